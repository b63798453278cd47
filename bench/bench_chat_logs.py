"""Bench: lines/s of reading a year-less dircproxy log (`[14 Jan 10:36] <nick!mask> text`) into
chat threads, the year given (`year:` option) and inferred from the file's modification time
(one pass when the log ends before it; the worst case walks it once per year back, 9 at most).
Beside it, what a user would otherwise run: `grep -c` over the same file (a floor: it only reads).

    python bench/bench_chat_logs.py [N_LINES]

Not a test: numbers depend on the machine and on who else uses it.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pln.config import SourceConfig
from pln.sources.registry import build_source

NICKS = ["ana", "bob", "cy", "dee", "ed", "fay"]
WORDS = "retrieval practice spacing quiz works why how ok lol thanks see https://example.org/x"


def write_log(path: Path, lines: int) -> datetime:
    rng = random.Random(7)
    at = datetime(2023, 12, 1, 9, 0)
    out = []
    for _ in range(lines):
        at += timedelta(minutes=rng.choice([0, 0, 1, 2, 5, 30, 600]))
        nick = rng.choice(NICKS)
        text = " ".join(rng.choices(WORDS.split(), k=rng.randint(1, 12)))
        out.append(f"[{at:%d %b %H:%M}] <{nick}!n={nick}@host> {text}")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return at


def source(path: Path, **options):
    config = SourceConfig("bench", "irc", {"path": str(path), **options}, path.parent, "b", "s")
    return build_source(config)


def timed(label: str, lines: int, run) -> None:
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds * 1000:8.1f} ms  {lines / seconds:>10,.0f} lines/s  {result}")


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 7543
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "channel.log"
        end = write_log(path, lines)
        print(f"{lines:,} lines, {path.stat().st_size >> 10} KiB, ends {end:%Y-%m-%d}")

        def items(src):
            result = src.fetch(None)
            return f"{len(result.items)} threads, drops {result.drops}"

        timed(
            "grep -c (reads only)",
            lines,
            lambda: (
                subprocess.run(["grep", "-c", "<", str(path)], capture_output=True, check=False)
                .stdout.strip()
                .decode()
            ),
        )
        timed("irc, year: 2023", lines, lambda: items(source(path, year=2023)))
        stamp = (end + timedelta(hours=2)).replace(tzinfo=UTC).timestamp()
        os.utime(path, (stamp, stamp))
        timed("irc, year from mtime (New Year: 2 passes)", lines, lambda: items(source(path)))
        late = datetime(2023, 12, 31, tzinfo=UTC).timestamp()  # before the log ends: worst case
        os.utime(path, (late, late))
        timed("irc, mtime before the end (9 passes)", lines, lambda: items(source(path)))


if __name__ == "__main__":
    main()
