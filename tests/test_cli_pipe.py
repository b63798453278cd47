"""The command line as a user pipes and reads it: `| head` ends pln quietly, progress lines count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "pln.yaml"


def test_a_reader_that_stops_early_ends_pln_without_a_traceback(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"spaced repetition note {n}\n" for n in range(30_000)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pln.cli", "topics", "test", "retrieval-practice"]
        + ["--file", str(texts), "-c", str(EXAMPLE_CONFIG)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()  # what `head -1` reads, then it closes the pipe
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)

    assert first.startswith(b"1\tkept\t")
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert proc.returncode == 141  # 128 + SIGPIPE, what a shell reports for `cat` there


def test_progress_lines_count_one_item_in_the_singular(tmp_path):
    def feed(entries: int) -> str:
        items = "".join(
            f"<item><title>Post {n}</title><link>https://a.example/{n}</link></item>"
            for n in range(entries)
        )
        return f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>"

    (tmp_path / "one.xml").write_text(feed(1))
    (tmp_path / "two.xml").write_text(feed(2))
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n"
        "  - {name: one, type: rss, path: one.xml}\n"
        "  - {name: two, type: rss, path: two.xml}\n"
        "topics:\n  - {id: posts, title: Posts, phrases: [post]}\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pln.cli", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line.strip() for line in (run.stdout + run.stderr).splitlines()]
    assert run.returncode == 0, lines
    assert "✓ one: 1 item" in lines and "✓ two: 2 items" in lines
