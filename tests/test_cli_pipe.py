"""`pln ... | head`: a reader that stops early ends pln quietly, as it ends `cat`."""

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
