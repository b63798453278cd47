"""A scheduled run with nothing new, when the config reads export folders (not a test).

The bundled example plus an IRC log folder, a Slack export and an X archive (the test
fixtures): one first run fills the store, then `--repeat` runs with nothing changed are timed.
With `--before CHECKOUT` the same runs of another checkout of pln alternate with these, each
tree with its own copy of the example and its own store.

    .venv/bin/python bench/bench_unchanged_exports.py [--repeat 5] [--before CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_peers  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
EXPORTS = (
    "  - {name: irc, type: irc, path: irc}\n"
    "  - {name: team, type: slack, path: slack}\n"
    "  - {name: mine, type: twitter_archive, path: archive}\n"
)


def example_with_exports(folder: Path) -> Path:
    """A copy of the example whose config also reads three export folders."""
    shutil.copytree(REPO / "examples", folder, ignore=shutil.ignore_patterns("out"))
    shutil.copytree(FIXTURES / "chat" / "irc", folder / "irc")
    shutil.copytree(FIXTURES / "chat" / "slack" / "export", folder / "slack")
    shutil.copytree(FIXTURES / "twitter" / "archive", folder / "archive")
    config = folder / "pln.yaml"
    config.write_text(config.read_text().replace("sources:\n", "sources:\n" + EXPORTS, 1))
    return config


def timed_run(config: Path, src: Path | None) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)} if src else None
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pln.cli", "run", "-q", "-c", config.name],
        cwd=config.parent,
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,  # the example's broken feed warns on every run
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", type=Path, help="also time this checkout of pln")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pln-unchanged-") as tmp:
        work = Path(tmp)
        trees = {"pln": (example_with_exports(work / "now"), None)}
        bench_peers.compiled()
        if args.before:
            layout = bench_peers.package_tree(args.before.resolve(), work / "before-src")
            bench_peers.compiled(layout)
            trees["before"] = (example_with_exports(work / "before"), layout)
        for config, src in trees.values():
            timed_run(config, src)  # the first run fills the store
        seconds: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.repeat):
            for name, (config, src) in trees.items():
                seconds[name].append(timed_run(config, src))
        for name, values in seconds.items():
            print(f"{name}: nothing new, {' '.join(f'{s:.2f}' for s in values)} s")


if __name__ == "__main__":
    main()
