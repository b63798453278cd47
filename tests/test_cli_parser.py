"""The command line builds only the typed command's parser: the same parser as among all, and
without importing the other commands' modules."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from test_batch_engines import one_feed_config

from pln import cli

OTHER_COMMANDS_MODULES = ("pln.cli_sources", "pln.web.cli")  # what `pln run` never needs


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's commands, by name, in order."""
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


ALL = _commands(cli.build_parser())


def test_every_command_is_in_a_group():
    grouped = [name for names in cli._COMMAND_GROUPS.values() for name in names]
    assert grouped == list(ALL)  # and in the order `pln --help` lists them


@pytest.mark.parametrize("command", list(ALL))
def test_a_command_alone_gets_the_parser_it_gets_among_all(command):
    alone = _commands(cli.build_parser(command))
    assert command in alone
    assert len(alone) < len(ALL)
    assert alone[command].format_help() == ALL[command].format_help()


@pytest.mark.parametrize("argv", [[], ["--help"], ["runn"]])
def test_no_command_or_an_unknown_one_gets_every_command(argv):
    assert list(_commands(cli.build_parser(argv[0] if argv else None))) == list(ALL)


def test_a_run_imports_none_of_the_other_commands_modules(tmp_path):
    config = one_feed_config(tmp_path)
    script = (
        "import sys\n"
        "from pln.cli import main\n"
        f"code = main(['run', '-q', '-c', {str(config)!r}])\n"
        f"print(code, [m for m in {OTHER_COMMANDS_MODULES!r} if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert out.splitlines()[-1] == "0 []"
