"""Benchmark `pln serve` against what it replaces and what it could use instead (not a test).

Serves the same small curated site (tests/feedsite.py: two topics, RSS ~6 KB) with:
  - before: the old `pln serve` (stdlib ThreadingHTTPServer, from git commit BEFORE);
  - python -m http.server (what docker/compose.yaml used to run);
  - after: `pln serve` (the WSGI app pln.web.app under granian, 2 worker processes: the
    default) and `pln serve --server waitress` (one process, 8 threads);
and runs Apache Bench (`ab`, Debian apache2-utils) against each, one after the other:
  1. new connection per request: `ab -n 5000 -c 50` GET of a topic's RSS feed;
  2. keep-alive polling: `ab -k -n 20000 -c 50` with If-None-Match (304s for pln servers);
  3. HTTP/1.0 keep-alive that the client leaves open: `ab -k -n 6 -c 3` (time taken).

    python bench/bench_serve.py [--requests 5000] [--concurrency 50] [--only NAME ...]

Targets (issue 13, 2 cores): run 1 with 0 failed requests and p99 <= 50 ms; run 2 >= 3,000
responses/s. The machine is shared: compare the rows of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from proc_tree import stop

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from feedsite import build_site, free_port  # noqa: E402

BEFORE = "fef91a5"  # the last commit with the http.server-based pln serve
OLD_SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
import old_serve
from pln.config import load_config
server = old_serve.FeedServer(load_config(sys.argv[2]), "127.0.0.1", int(sys.argv[3]))
print("ready", flush=True)
server.serve_forever()
"""


def servers(config_path: Path, feeds_dir: Path, old_dir: Path, port: int) -> dict[str, dict]:
    py = sys.executable
    bin_dir = Path(py).parent
    return {
        "before: pln serve (http.server)": {
            "cmd": [py, "-c", OLD_SERVER, str(old_dir), str(config_path), str(port)],
            "path": "/feeds/",
        },
        "python -m http.server": {
            "cmd": [py, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            "cwd": feeds_dir,
            "path": "/",
        },
        "after: pln serve --server waitress": {
            "cmd": [str(bin_dir / "pln"), "serve", "-c", str(config_path), "-q",
                    "--port", str(port), "--server", "waitress"],
            "path": "/feeds/",
        },
        "after: pln serve (granian, 2 workers)": {
            "cmd": [str(bin_dir / "pln"), "serve", "-c", str(config_path), "-q",
                    "--port", str(port)],
            "path": "/feeds/",
        },
    }  # fmt: skip


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not answer at {url}")


def ab(*args: str) -> dict:
    # -s 10: a response that never completes fails after 10 s; -r: count socket errors as
    # failed requests instead of stopping; -t 60 (before -n): stop after a minute at most.
    started = time.monotonic()
    try:
        result = subprocess.run(
            ["ab", "-s", "10", "-r", "-t", "60", *args], capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired:
        return {"error": "ab did not finish in 300 s"}
    out = result.stdout
    if result.returncode != 0:  # e.g. a response that never ended: say how far it got
        done = re.search(r"Total of (\d+) requests completed", result.stderr + out)
        seconds = time.monotonic() - started
        if done:
            return {"error": f"stalled after {int(done.group(1)):,} requests, {seconds:.0f} s"}
        return {"error": (result.stderr or out).strip().splitlines()[-1]}

    def num(pattern: str, default=0.0) -> float:
        found = re.search(pattern, out, re.MULTILINE)
        return float(found.group(1)) if found else default

    return {
        "rps": num(r"^Requests per second:\s+([\d.]+)"),
        "failed": int(num(r"^Failed requests:\s+(\d+)")),
        "non2xx": int(num(r"^Non-2xx responses:\s+(\d+)")),
        "p50": num(r"^\s+50%\s+(\d+)"),
        "p99": num(r"^\s+99%\s+(\d+)"),
        "max": num(r"^\s+100%\s+(\d+)"),
        "seconds": num(r"^Time taken for tests:\s+([\d.]+)"),
        "done": int(num(r"^Complete requests:\s+(\d+)")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--polls", type=int, default=20000)
    parser.add_argument("--only", nargs="*", help="run only servers whose name contains these")
    args = parser.parse_args()
    if not shutil.which("ab"):
        raise SystemExit("ab is not installed: apt-get install apache2-utils")

    tmp = Path(tempfile.mkdtemp(prefix="pln-bench-serve-"))
    port = free_port()
    config = build_site(tmp, port)
    old_dir = tmp / "old"
    old_dir.mkdir()
    old = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{BEFORE}:pln/serve.py"], capture_output=True, text=True
    )
    (old_dir / "old_serve.py").write_text(old.stdout)
    print(f"site: {config.outputs.feeds_dir} · ab -c {args.concurrency} · {os.cpu_count()} cores")
    print(
        f"{'server':<36} {'new conn/req: req/s':>19} {'fail':>5} {'p50':>5} {'p99':>5} "
        f"{'max ms':>6} │ {'keep-alive 304/s':>16} {'fail':>7} │ {'1.0 k-a 6 req':>13}"
    )
    for name, spec in servers(config.path, config.outputs.feeds_dir, old_dir, port).items():
        if args.only and not any(word in name for word in args.only):
            continue
        proc = subprocess.Popen(
            spec["cmd"],
            cwd=spec.get("cwd"),
            env=spec.get("env"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}{spec['path']}spaced.rss.xml"
            wait_up(url, proc)
            with urllib.request.urlopen(url) as response:
                etag = response.headers.get("ETag") or '"none"'
            fresh = ab("-q", "-n", str(args.requests), "-c", str(args.concurrency), url)
            polls = ab(
                *("-q", "-k", "-n", str(args.polls), "-c", str(args.concurrency)),
                *("-H", f"If-None-Match: {etag}", url),
            )
            held = ab("-q", "-k", "-n", "6", "-c", "3", url)
        finally:
            stop([proc], timeout=10)
        print(f"{name:<36} {row(fresh)} │ {row_polls(polls)} │ {held_row(held)}", flush=True)
        time.sleep(1)  # let TIME_WAIT sockets and the port settle
    shutil.rmtree(tmp, ignore_errors=True)


def row(r: dict) -> str:
    if "error" in r:
        return f"{r['error'][:45]:>45}"
    return f"{r['rps']:>19,.0f} {r['failed']:>5} {r['p50']:>5.0f} {r['p99']:>5.0f} {r['max']:>6.0f}"


def row_polls(r: dict) -> str:
    if "error" in r:
        return f"{r['error'][:24]:>24}"
    return f"{r['rps']:>16,.0f} {r['failed']:>7}"


def held_row(r: dict) -> str:
    text = "stalled" if "error" in r else f"{r['seconds']:.2f} s"
    return f"{text:>13}"


if __name__ == "__main__":
    main()
