"""The dependency rule of the house (tools/check_layers.py): core < sources, filters, sinks <
pipelines < app, families apart, and no import cycles."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_no_module_breaks_the_layers_or_closes_a_cycle():
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "check_layers.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout


def test_the_check_finds_a_lower_layer_importing_a_higher_one():
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import check_layers
    finally:
        sys.path.pop(0)
    graph = {"pln.record": {"pln.cli"}, "pln.cli": {"pln.record"}, "pln.sinks.x": {"pln.filters.y"}}
    assert check_layers.violations(graph) == [
        "pln.record (core) imports pln.cli (app)",
        "pln.sinks.x (pln.sinks) imports pln.filters.y (pln.filters)",
    ]
    assert check_layers.cycles(graph) == [["pln.cli", "pln.record"]]
