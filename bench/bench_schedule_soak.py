"""`pln schedule` left running against a hostile web (not a test): does its process grow?

`pln schedule` runs the batch job again and again in one long-lived process: each run probes
the feeds on threads (a fetch that outlives `fetch.source_deadline` is given up and its thread
left to end on its own) and hands the changed ones to forked workers. This bench serves
--feeds RSS feeds from a local HTTP server on 127.0.0.1 (in this process, on threads), with
ETag and Last-Modified (unchanged feeds answer 304), one new entry every --post-every seconds
on one of --posting feeds in turn, and nine hostile feeds among them:

  hang       accepts, reads the request, never answers
  drip-body  answers 200 with a Content-Length, then sends its body 1 byte a second
  drip-head  sends the status line, then its headers 1 byte a second, for ever
  late       answers after the source deadline (with a new entry each time)
  flaky      answers 500 and 200 in turn
  moved      301 to another path, which serves a feed
  reset      resets the connection (RST) after reading the request
  endless    a 200 whose body never ends (over the source's max_bytes of 1 MB)
  dns        a host under .invalid, which never resolves

Every hostile feed but `dns` answers properly (200, then 304) on every third request: so it
holds a cursor, and the run's probe (the long-lived parent process) is the one that meets it,
and its failures stay too few for the back-off to skip it (interval 1 s). `dns` backs off, as
it should.

It runs `pln schedule -c pln.yaml --json` (pln.cli.main in a process of its own) with cron
`* * * * *` and a small `fetch.source_deadline` (--deadline, 3 s). Cron has minute
resolution and `pln schedule` no faster option, so the scheduler's clock runs --speed times
faster than real time (its injectable `clock` and `sleep`, swapped for accelerated ones before
`pln.cli.main` builds it): with --speed 30 a cron minute is 2 s, and everything else is the
real `pln schedule`: the config watch between slots, the store's last run at the start, each
run's summary and `warn_older_models`. Runs never overlap, so the next starts at most 2 s
after one ends. --speed 1 is `pln schedule` as shipped (a run a minute).

Every --every seconds it samples the schedule process (threads, fds, sockets among them, RSS),
its descendants (the run's crew: how many, zombies, their RSS), the disk (files in the
`<duckdb>.staging` folder, the DuckDB file and its WAL, the feeds folder, files in the
process's own TMPDIR) and the connections the server still holds open for the hang and drip
feeds. It prints the curve as it goes, then each figure's median over the second quarter
against its median over the last (and its peak), the number of runs and per-run seconds
percentiles (from the runs' JSON summaries).

    python bench/bench_schedule_soak.py [--minutes 15] [--feeds 60] [--posting 10]
                                        [--post-every 15] [--deadline 3] [--speed 30]
                                        [--every 10] [--keep DIR]

On a 2-core machine, 15 minutes make about 336 runs (p50 0.2-0.6 s; p90 3.2 s, the runs that
wait for the hang, drip and late feeds until the source deadline). It found `drip-head` left
one thread and one socket behind each time it was met (http.client reads headers with as many
reads as it takes, each within the read timeout): 57 -> 114 threads, 58 -> 115 sockets from
the second quarter to the last. Since sources/http.py shuts such a socket at the fetch's
deadline: 34 -> 28 threads, 25 -> 25 sockets, RSS 159 -> 159 MB, and nothing staged, no temp
file, no WAL, no zombie at any sample. About 20 threads stay as a steady state: fetches given
up at the source deadline (3 s) go on to their own (`timeout` 20 s a read, 60 s the whole).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from proc_tree import descendants, stop  # bench/, the folder of this script

REPO = Path(__file__).resolve().parents[1]
HOSTILE = ("hang", "drip-body", "drip-head", "late", "flaky", "moved", "reset", "endless", "dns")
KEEP_ENTRIES = 30  # entries a feed keeps
PHRASES = ("retrieval practice", "spaced repetition", "employee onboarding", "microlearning")
LATE_BY = 2.0  # the late feed answers this many seconds after the source deadline


# -- the web: normal feeds and hostile ones --------------------------------------------------


class Feed:
    """One blog's feed: its newest entries, an ETag and a Last-Modified that move on a post."""

    def __init__(self, name: str, entries: int = 10):
        self.name = name
        self.version = 0
        self.modified = datetime.now(UTC)
        self.items: list[str] = []
        for _ in range(entries):
            self.post()

    def post(self) -> None:
        n = self.version
        self.version += 1
        self.modified = datetime.now(UTC)
        link = f"https://{self.name}.example/{n}/"
        about = f"notes on {PHRASES[n % len(PHRASES)]}" if n % 5 == 0 else "a walk in the hills"
        self.items.insert(
            0,
            f"<item><title>{escape(self.name)} {n}: {escape(about)}</title><link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid>'
            f"<pubDate>{format_datetime(self.modified, usegmt=True)}</pubDate>"
            f"<description>Today, {escape(about)}, with a few thoughts for the team."
            "</description></item>",
        )
        del self.items[KEEP_ENTRIES:]

    @property
    def etag(self) -> str:
        return f'"{self.name}-{self.version}"'

    @property
    def last_modified(self) -> str:
        return format_datetime(self.modified, usegmt=True)

    def body(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(self.name)}</title><link>https://{self.name}.example/</link>"
            f"<description>The blog {escape(self.name)}</description>{''.join(self.items)}"
            "</channel></rss>\n"
        ).encode()


class Web:
    """The feeds over HTTP on 127.0.0.1, on threads of this process."""

    def __init__(self, normal: int, deadline: float):
        self.feeds = {f"blog{i:03d}": Feed(f"blog{i:03d}") for i in range(normal)}
        for name in HOSTILE:
            self.feeds[name] = Feed(name)  # what it serves when it answers properly
        self.deadline = deadline
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.holding = 0  # connections of hang/drip handlers still open
        self.closing = threading.Event()
        self.posted = 0
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                web.answer(self)

            def finish(self):
                with contextlib.suppress(OSError, ValueError):
                    super().finish()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.2,), daemon=True).start()

    def url(self, name: str) -> str:
        if name == "dns":
            return "http://feeds.pln-soak.invalid/rss.xml"
        return f"http://127.0.0.1:{self.port}/{name}.xml"

    def post(self, posting: int) -> None:
        with self.lock:
            self.feeds[f"blog{self.posted % posting:03d}"].post()
            self.posted += 1

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        name = h.path.lstrip("/").removesuffix(".xml")
        with self.lock:
            n = self.requests.get(name, 0)
            self.requests[name] = n + 1
        hostile = name in HOSTILE and n % 3 != 0  # every third request is answered properly
        if name == "moved-target" or (name == "moved" and not hostile):
            name = "moved"
        elif name == "moved":
            return self._send(h, 301, {"Location": "/moved-target.xml"}, b"")
        if name not in self.feeds:
            return self._send(h, 404, {}, b"not found")
        if hostile:
            with self._held():
                getattr(self, "_" + name.replace("-", "_"))(h, n)
            h.close_connection = True
            return None
        with self.lock:
            feed = self.feeds[name]
            etag, modified, body = feed.etag, feed.last_modified, feed.body()
        if h.headers.get("If-None-Match") == etag or h.headers.get("If-Modified-Since") == modified:
            return self._send(h, 304, {"ETag": etag, "Last-Modified": modified}, None)
        headers = {"ETag": etag, "Last-Modified": modified, "Content-Type": "application/rss+xml"}
        return self._send(h, 200, headers, body)

    @contextlib.contextmanager
    def _held(self):
        with self.lock:
            self.holding += 1
        try:
            yield
        except OSError:
            pass  # the client gave up: what a hostile server sees
        finally:
            with self.lock:
                self.holding -= 1

    def _send(self, h, status: int, headers: dict[str, str], body: bytes | None) -> None:
        with contextlib.suppress(OSError):
            h.send_response(status)
            for key, value in headers.items():
                h.send_header(key, value)
            if body is not None:
                h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if body:
                h.wfile.write(body)

    def _gone(self, h, seconds: float) -> bool:
        """Wait up to `seconds`; True once the client closed its end (or the bench ends)."""
        ready, _, _ = select.select([h.connection], [], [], seconds)
        if self.closing.is_set():
            return True
        return bool(ready) and not h.connection.recv(1, socket.MSG_PEEK)

    def _hang(self, h, _n: int) -> None:
        while not self._gone(h, 1.0):
            pass

    def _drip_body(self, h, _n: int) -> None:
        opening = b"Content-Type: application/rss+xml\r\nContent-Length: 1000000\r\n\r\n<?xml"
        self._drip(h, opening, b" ")

    def _drip_head(self, h, _n: int) -> None:
        self._drip(h, b"X-Drip: ", b"a")

    def _drip(self, h, opening: bytes, byte: bytes) -> None:
        """A 200 whose headers go on with `opening`, then `byte` a second until the client goes."""
        h.wfile.write(b"HTTP/1.1 200 OK\r\n" + opening)
        h.wfile.flush()
        while not self._gone(h, 1.0):
            h.wfile.write(byte)
            h.wfile.flush()

    def _late(self, h, n: int) -> None:
        if self._gone(h, self.deadline + LATE_BY):
            return
        feed = Feed("late", entries=10 + n)  # new entries: the answer would be staged
        headers = {"ETag": f'"late-{n}"', "Content-Type": "application/rss+xml"}
        self._send(h, 200, headers, feed.body())

    def _flaky(self, h, n: int) -> None:
        if n % 3 == 1:
            self._send(h, 500, {}, b"oops")
        else:  # n % 3 == 2: a 200, as the server comes back
            with self.lock:
                feed = self.feeds["flaky"]
                headers = {"ETag": feed.etag, "Content-Type": "application/rss+xml"}
                body = feed.body()
            self._send(h, 200, headers, body)

    def _reset(self, h, _n: int) -> None:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()

    def _endless(self, h, _n: int) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n")
        h.wfile.write(b"Connection: close\r\n\r\n<?xml version='1.0'?><rss><channel>")
        chunk = b"<!-- padding -->" * 4096
        while not self.closing.is_set():
            h.wfile.write(chunk)

    def _dns(self, h, _n: int) -> None:  # never asked: the name does not resolve
        self._send(h, 500, {}, b"")


def config_text(web: Web, folder: Path, deadline: float) -> str:
    lines = ["sources:"]
    for name in web.feeds:
        extra = ", max_bytes: 1000000" if name == "endless" else ""
        lines.append(f"  - {{name: {name}, type: rss, url: '{web.url(name)}', interval: 1{extra}}}")
    lines += [
        "topics:",
        "  - id: learning",
        "    title: Learning",
        f"    phrases: [{', '.join(PHRASES)}]",
        "outputs:",
        f"  duckdb: {folder}/out/pln.duckdb",
        f"  feeds_dir: {folder}/out/feeds",
        "schedule:",
        "  cron: ['* * * * *']",
        "fetch:",
        f"  source_deadline: {deadline:g}",
        "  per_host: 16  # every feed is on 127.0.0.1 here; across the web they are many hosts",
    ]
    return "\n".join(lines) + "\n"


# -- the schedule process --------------------------------------------------------------------


def schedule_child(config: str, speed: float) -> int:
    """`pln schedule -c config --json` with the scheduler's clock `speed` times faster."""
    from pln import schedule
    from pln.cli import main as pln_main

    started_wall, started = datetime.now(UTC), time.monotonic()
    defaults = schedule.Scheduler.__init__.__kwdefaults__
    defaults["clock"] = lambda: (
        started_wall + timedelta(seconds=(time.monotonic() - started) * speed)
    )
    defaults["sleep"] = lambda seconds: time.sleep(seconds / speed)
    return pln_main(["schedule", "-c", config, "--json"])


# -- sampling /proc ----------------------------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _kb(status: dict[str, str], key: str) -> int:
    return int(status.get(key, "0 kB").split()[0])


def _fds(pid: int) -> tuple[int, int]:
    """(open fds, of which sockets)."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0, 0
    sockets = 0
    for name in names:
        with contextlib.suppress(OSError):
            sockets += os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:")
    return len(names), sockets


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / ticks


def _files(folder: Path) -> tuple[int, int]:
    """(files under `folder`, their bytes)."""
    count = size = 0
    for root, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                size += os.stat(os.path.join(root, name)).st_size
                count += 1
    return count, size


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def sample(pid: int, folder: Path, web: Web, runs: int, minute: float) -> dict:
    status = _status(pid)
    fds, sockets = _fds(pid)
    kids = descendants(pid)
    kid_status = [_status(k) for k in kids]
    db = folder / "out" / "pln.duckdb"
    staged, _ = _files(Path(f"{db.resolve()}.staging"))
    feed_files, feed_bytes = _files(folder / "out" / "feeds")
    tmp_files, _ = _files(folder / "tmp")
    return {
        "minute": minute,
        "runs": runs,
        "threads": int(status.get("Threads", "0")),
        "fds": fds,
        "sockets": sockets,
        "rss MB": _kb(status, "VmRSS") / 1024,
        "children": len(kids),
        "zombies": sum(s.get("State", "").startswith("Z") for s in kid_status),
        "kids MB": sum(_kb(s, "VmRSS") for s in kid_status) / 1024,
        "staged": staged,
        "db MB": _size(db) / 1e6,
        "wal KB": _size(db.with_name("pln.duckdb.wal")) / 1e3,
        "feeds": feed_files,
        "feeds KB": feed_bytes / 1e3,
        "tmp files": tmp_files,
        "server held": web.holding,
        "cpu s": _cpu_seconds([pid, *kids]),
    }


def sample_line(row: dict) -> str:
    return (
        f"{row['minute']:6.1f} min {row['runs']:4d} runs  thr {row['threads']:3d}  "
        f"fds {row['fds']:3d} (sock {row['sockets']:3d})  rss {row['rss MB']:5.0f} MB  "
        f"kids {row['children']} (Z {row['zombies']}, {row['kids MB']:4.0f} MB)  "
        f"staged {row['staged']}  db {row['db MB']:5.1f} MB wal {row['wal KB']:6.0f} KB  "
        f"feeds {row['feeds']} ({row['feeds KB']:.0f} KB)  tmp {row['tmp files']}  "
        f"held {row['server held']}"
    )


# -- the bench ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--feeds", type=int, default=60, help="feeds in all, the hostile included")
    parser.add_argument("--posting", type=int, default=10, help="feeds that post, in turn")
    parser.add_argument("--post-every", type=float, default=15.0, help="seconds between posts")
    parser.add_argument("--deadline", type=float, default=3.0, help="fetch.source_deadline")
    parser.add_argument("--speed", type=float, default=30.0, help="how much faster cron runs")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: the schedule process
    args = parser.parse_args()
    if args.child:
        return schedule_child(args.child, args.speed)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="pln-schedule-soak-"))
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    web = Web(max(1, args.feeds - len(HOSTILE)), args.deadline)
    config = folder / "pln.yaml"
    config.write_text(config_text(web, folder, args.deadline), encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PLN_PROGRESS": "1",  # the runs' progress lines go to schedule.log
        "TMPDIR": str(folder / "tmp"),  # temp files the runs leave are counted there
    }
    runs_log, log = folder / "runs.jsonl", folder / "schedule.log"
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(config), "--speed", str(args.speed)],
        stdout=runs_log.open("wb"),
        stderr=log.open("wb"),
        env=env,
        cwd=folder,
    )
    print(f"pln schedule (pid {proc.pid}) on {len(web.feeds)} feeds; data and logs in {folder}")
    samples: list[dict] = []
    try:
        soak(args, proc, folder, web, runs_log, samples)
    finally:
        stop([proc], timeout=120)
        web.close()
    report(samples, read_runs(runs_log), proc.returncode, log)
    asked = ", ".join(f"{name} {web.requests.get(name, 0)}" for name in HOSTILE if name != "dns")
    print(f"requests to the hostile feeds (a third answered properly): {asked}")
    return 0


def soak(args, proc, folder: Path, web: Web, runs_log: Path, samples: list[dict]) -> None:
    start = time.monotonic()
    end = start + args.minutes * 60
    next_sample, next_post = start, start + args.post_every
    while time.monotonic() < end:
        now = time.monotonic()
        if proc.poll() is not None:
            raise SystemExit(f"pln schedule stopped by itself ({proc.returncode}); see {folder}")
        if args.post_every > 0 and now >= next_post:
            web.post(max(1, args.posting))
            next_post += args.post_every
        if now >= next_sample:
            runs = len(read_runs(runs_log))
            samples.append(sample(proc.pid, folder, web, runs, (now - start) / 60))
            print(sample_line(samples[-1]), flush=True)
            next_sample += args.every
        time.sleep(0.1)


def read_runs(runs_log: Path) -> list[dict]:
    runs = []
    with contextlib.suppress(OSError):
        for line in runs_log.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                runs.append(json.loads(line))
    return runs


def report(samples: list[dict], runs: list[dict], code: int | None, log: Path) -> None:
    seconds = sorted(r["seconds"] for r in runs)
    print(f"\n{len(runs)} runs; pln schedule exited {code} on SIGTERM")
    if seconds:
        cut = statistics.quantiles(seconds, n=100) if len(seconds) > 1 else seconds * 99
        print(
            f"per-run seconds: p50 {cut[49]:.2f}  p90 {cut[89]:.2f}  p99 {cut[98]:.2f}  "
            f"max {seconds[-1]:.2f}  (min {seconds[0]:.2f})"
        )
        wrote = [r["items"]["written"] for r in runs if r.get("items", {}).get("written")]
        errors = [len(r["sources"]["errors"]) for r in runs if "sources" in r]
        print(
            f"runs that wrote items: {len(wrote)} ({sum(wrote):,} items); failed sources per "
            f"run: median {statistics.median(errors) if errors else 0:g}, max {max(errors):g}"
        )
    tracebacks = log.read_text(encoding="utf-8", errors="replace").count("Traceback")
    print(f"tracebacks in {log.name}: {tracebacks}")
    if len(samples) < 8:
        return
    quarter = len(samples) // 4
    second, last = samples[quarter : 2 * quarter], samples[-quarter:]
    window = samples[quarter:]
    minutes = window[-1]["minute"] - window[0]["minute"]
    if minutes > 0:
        cpu = (window[-1]["cpu s"] - window[0]["cpu s"]) / (60 * minutes)
        print(f"CPU from minute {window[0]['minute']:.1f} on: {100 * cpu:.0f}% of one core")
    print("median of the second quarter -> median of the last quarter (peak):")
    for key in samples[-1]:
        if key in ("minute", "runs", "cpu s"):
            continue
        early, late = (statistics.median(row[key] for row in part) for part in (second, last))
        peak = max(row[key] for row in samples)
        print(f"  {key:12s} {early:9.1f} -> {late:9.1f} ({late - early:+.1f}), peak {peak:.1f}")


if __name__ == "__main__":
    sys.exit(main())
