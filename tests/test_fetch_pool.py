"""Many sources fetched at once from a real server on 127.0.0.1: slow ones never hold up the
fast ones, hosts get only a few requests at a time, and deadlines end what overruns them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from helpers import source_config
from httpserver import SilentServer

from pln.config import FetchConfig, SourceConfig, load_config
from pln.errors import ConfigError
from pln.sources.fetch_pool import FetchPool, host_of
from pln.sources.registry import fetch_once

FEED = (Path(__file__).parent / "fixtures" / "feeds" / "rss2.xml").read_bytes()


def rss(name: str, url: str, **options) -> SourceConfig:
    return source_config("rss", Path("."), name, url=url, **options)


class InFlight:
    """Wraps the real fetch and records how many fetches per host ran at the same moment."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}

    def __call__(self, config, cursor):
        host = host_of(config)
        with self.lock:
            self.now[host] = self.now.get(host, 0) + 1
            self.most[host] = max(self.most.get(host, 0), self.now[host])
        try:
            return fetch_once(config, cursor)
        finally:
            with self.lock:
                self.now[host] -= 1


def test_slow_sources_do_not_hold_up_fast_ones(server):
    server.route("/fast.xml", body=FEED)
    pool = FetchPool(concurrency=8, per_host=8)
    with SilentServer() as silent:  # slow whatever the machine: it answers nothing
        for i in range(3):
            pool.add(rss(f"slow{i}", silent.url("/slow.xml"), timeout=60))
        for i in range(10):
            pool.add(rss(f"fast{i}", server.url("/fast.xml")))
        outcomes = pool.drain()
        first = [next(outcomes) for _ in range(10)]
    assert sorted(f.config.name for f in first) == sorted(f"fast{i}" for i in range(10))
    assert all(f.status.ok and f.status.items > 0 for f in first)
    rest = list(outcomes)  # the silent server hung up on them
    assert sorted(f.config.name for f in rest) == ["slow0", "slow1", "slow2"]
    assert all(not f.status.ok and "\n" not in f.status.error for f in rest)


def test_a_host_gets_at_most_per_host_requests_at_once(server):
    server.route("/feed.xml", body=FEED, delay=0.2)
    other = server.url("/feed.xml").replace("127.0.0.1", "localhost")
    in_flight = InFlight()
    pool = FetchPool(concurrency=10, per_host=2, fetch=in_flight)
    for i in range(6):
        pool.add(rss(f"a{i}", server.url("/feed.xml")))
        pool.add(rss(f"b{i}", other))
    finished = list(pool.drain())
    assert len(finished) == 12 and all(f.status.ok for f in finished)
    assert in_flight.most == {"127.0.0.1": 2, "localhost": 2}


def test_concurrency_bounds_the_sources_in_flight(server):
    server.route("/feed.xml", body=FEED, delay=0.1)
    in_flight = InFlight()
    pool = FetchPool(concurrency=3, per_host=10, fetch=in_flight)
    for i in range(9):
        pool.add(rss(f"s{i}", server.url("/feed.xml")))
    assert len(list(pool.drain())) == 9
    assert in_flight.most == {"127.0.0.1": 3}


def test_local_reads_take_turns_beside_network_fetches(server, tmp_path):
    """Files parse on the CPU: a pool given `local=1` reads one at a time, while its network
    fetches still run side by side."""
    server.route("/feed.xml", body=FEED, delay=0.2)
    (tmp_path / "feed.xml").write_bytes(FEED)
    in_flight = InFlight()
    pool = FetchPool(concurrency=8, per_host=8, fetch=in_flight, local=1)
    for i in range(4):
        pool.add(source_config("rss", tmp_path, f"file{i}", path="feed.xml"))
        pool.add(rss(f"web{i}", server.url("/feed.xml")))
    assert pool.local_waiting()
    finished = list(pool.drain())
    assert len(finished) == 8 and all(f.status.ok and f.status.items for f in finished)
    assert in_flight.most == {"": 1, "127.0.0.1": 4}


def test_the_source_deadline_bounds_the_whole_fetch(server):
    # The server answers within the read timeout each time, but the body drips for 30 s.
    server.route("/drip.xml", body=FEED * 10, chunk_delay=0.1)
    server.route("/feed.xml", body=FEED)
    pool = FetchPool(source_deadline=2)
    pool.add(rss("drip", server.url("/drip.xml"), timeout=5))
    pool.add(rss("ok", server.url("/feed.xml")))
    outcome = {f.config.name: f.status for f in pool.drain()}
    assert outcome["ok"].ok
    assert outcome["drip"].error == "source 'drip': gave up after 2 s (fetch.source_deadline)"


def test_the_run_deadline_ends_fetching_and_names_what_was_not_fetched(server):
    server.route("/slow.xml", body=FEED, delay=30)
    server.route("/feed.xml", body=FEED)
    pool = FetchPool(concurrency=1)
    run_deadline = time.time() + 3.0
    pool.add(rss("first", server.url("/feed.xml")), None, run_deadline)
    pool.add(rss("stuck", server.url("/slow.xml")), None, run_deadline)
    pool.add(rss("never", server.url("/feed.xml")), None, run_deadline)
    outcome = {f.config.name: f.status for f in pool.drain()}
    assert outcome["first"].ok
    assert outcome["stuck"].error == "source 'stuck': gave up (the run's deadline, fetch.deadline)"
    assert outcome["never"].error == (
        "source 'never': not fetched: the run's deadline (fetch.deadline) passed"
    )
    assert not outcome["stuck"].ok and outcome["stuck"].cursor is None  # the old cursor is kept


def test_files_and_exports_have_no_host():
    assert host_of(source_config("rss", Path("."), "f", path="a.xml")) == ""
    assert host_of(rss("b", "https://Blog.Example:8443/feed")) == "blog.example"


BASE = "sources: [{name: a, type: rss, path: a.xml}]\ntopics: [{id: t, phrases: [x]}]\n"


@pytest.mark.parametrize(
    "fetch, key, problem",
    [
        ("{concurrency: 0}", "fetch.concurrency", "at least 1"),
        ("{concurrency: 100000}", "fetch.concurrency", "at most 256"),
        ("{per_host: 0}", "fetch.per_host", "at least 1"),
        ("{deadline: -5}", "fetch.deadline", "between"),
        ("{deadline: 100000000}", "fetch.deadline", "between"),
        ("{source_deadline: soon}", "fetch.source_deadline", "must be a number"),
        ("{dedline: 60}", "fetch.dedline", "unknown key"),
    ],
)
def test_fetch_settings_are_validated(tmp_path, fetch, key, problem):
    path = tmp_path / "pln.yaml"
    path.write_text(BASE + f"fetch: {fetch}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: {key}: " in str(info.value) and problem in str(info.value)


def test_fetch_settings_default_to_a_bounded_pool_and_no_run_deadline(tmp_path):
    path = tmp_path / "pln.yaml"
    path.write_text(BASE + "fetch: {deadline: 300, per_host: 2}\n")
    assert load_config(path).fetch == FetchConfig(32, 2, 120.0, 300.0)
    path.write_text(BASE)
    assert load_config(path).fetch.deadline is None
