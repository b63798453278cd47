"""A slow host listed first does not hold up the other hosts' feeds: a fetch pool (the run's
probe takes every feed; a batch worker the other sources over HTTP) takes sources past those
that wait only for a busy host's slot (`per_host`).

Real servers on two loopback addresses (127.0.0.2: slow, 127.0.0.1: fast) and a real
`pln run`. The slow feeds answer only once every fast feed was asked for (or after a long
wait), so the test compares orderings, not timings: before the fix the fast feeds were asked
for only after the slow ones had answered."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import source_config

from pln.sources.fetch_pool import FetchPool

FEED = (Path(__file__).parent / "fixtures" / "feeds" / "rss2.xml").read_bytes()
SLOW, FAST = 12, 10
HOLD = 15.0  # seconds a slow feed waits at most for the fast ones (within the 20 s timeout)


class TwoHosts:
    """`/slow/<n>` on 127.0.0.2 answers once `release` is set; `/fast/<n>` on 127.0.0.1 at
    once. `asked` lists the paths asked for, as requests arrive."""

    def __init__(self):
        self.release = threading.Event()
        self.asked: list[str] = []
        self.fast_all_asked = threading.Event()
        self.servers = [self._serve("127.0.0.2"), self._serve("127.0.0.1")]

    def _serve(self, host: str) -> ThreadingHTTPServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                owner.asked.append(self.path)
                if sum(p.startswith("/fast/") for p in owner.asked) == FAST:
                    owner.fast_all_asked.set()
                if self.path.startswith("/slow/"):
                    owner.release.wait(HOLD)
                with contextlib.suppress(OSError):  # a client that gave up
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml")
                    self.send_header("Content-Length", str(len(FEED)))
                    self.end_headers()
                    self.wfile.write(FEED)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer((host, 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return server

    def url(self, kind: str, n: int) -> str:
        server = self.servers[0 if kind == "slow" else 1]
        host, port = server.server_address[:2]
        return f"http://{host}:{port}/{kind}/{n}"

    def close(self):
        self.release.set()
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def two_hosts():
    hosts = TwoHosts()
    try:
        yield hosts
    finally:
        hosts.close()


def test_fast_hosts_are_fetched_while_a_slow_host_listed_first_is_busy(two_hosts, tmp_path):
    sources = [
        f"  - {{name: slow{i}, type: rss, url: {two_hosts.url('slow', i)}}}" for i in range(SLOW)
    ]
    sources += [
        f"  - {{name: fast{i}, type: rss, url: {two_hosts.url('fast', i)}}}" for i in range(FAST)
    ]
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n" + "\n".join(sources) + "\n"
        "topics:\n  - {id: sr, title: SR, phrases: [spaced repetition]}\n"
        "nlp: {pipeline: 'blank:en'}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
        "fetch: {concurrency: 8, per_host: 4}\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "pln.cli", "run", "-c", str(config)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        fast_first = two_hosts.fast_all_asked.wait(HOLD)
        asked = list(two_hosts.asked)  # before any slow feed answered
        two_hosts.release.set()
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, output
    # Every fast feed was asked for while the slow host's first feeds were still unanswered,
    # and the slow host never saw more than per_host of them at once.
    assert fast_first, f"asked for before the slow host answered: {asked}"
    assert sum(p.startswith("/slow/") for p in asked) == 4
    for i in range(SLOW):
        assert f"✓ slow{i}:" in output
    for i in range(FAST):
        assert f"✓ fast{i}:" in output


def test_a_pool_has_room_past_sources_waiting_only_for_their_host():
    """Sources waiting for a busy host's slot do not take the pool's room, up to a bound."""

    def source(name: str, host: str):
        return source_config("rss", Path("."), name, url=f"http://{host}/{name}")

    pool = FetchPool(concurrency=4, per_host=2)  # nothing starts: only what was added counts
    for i in range(5):  # 2 could start now; 3 wait for a slot of slow.example
        pool.add(source(f"slow{i}", "slow.example"))
    assert pool.has_room(host_blocked=4)
    assert not pool.has_room(host_blocked=3)  # the bound on sources waiting for their host
    pool.add(source("fast0", "fast.example"))
    assert pool.has_room(host_blocked=4)
    pool.add(source("fast1", "fast.example"))  # 2 slow + 2 fast could start: the pool is full
    assert not pool.has_room(host_blocked=100)
