"""`pln schedule` left running against a hostile web must not grow: what
bench/bench_schedule_soak.py found over hundreds of runs in one process.

A server that sends its status line and then its headers a byte at a time meets every read
timeout (urllib3's bound each read), so a fetch went on for hours past its deadline. The fetch
pool gives such a fetch up at `fetch.source_deadline` and leaves its thread to end on its own,
so every run of `pln schedule` left one more thread and socket behind for each such feed (the
soak, 336 runs in 15 minutes: 57 -> 114 threads and 58 -> 115 sockets from its second quarter
to its last). Now the socket is shut down at the fetch's deadline (34 -> 28 threads, 25 -> 25
sockets). Real servers on 127.0.0.1; real runs in process, as `pln schedule` makes them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest
from helpers import source_config

from pln.config import load_config
from pln.errors import SourceError
from pln.pipelines.batch import run_batch
from pln.record import SourceStatus
from pln.sinks.store import Store
from pln.sources.fetch_pool import FetchPool
from pln.sources.http import HttpFetcher, bounded_by

HEADERS = b"HTTP/1.1 200 OK\r\nX-Drip: "  # then "a", a byte every DRIP seconds
OPENINGS = {
    "status line": b"HTTP/1.1 20",
    "headers": HEADERS,
    # Cut short at the deadline, these read as a complete 304 (headers end at an empty read).
    "headers of a 304": b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nX-Drip: ',
}
BODY = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n<rss><channel><title>"
DRIP = 0.1


class DripServer:
    """Accepts connections on 127.0.0.1, reads the request, sends `opening` and then a byte
    every DRIP seconds for ever; `open` counts the connections it still drips to (a client
    that closes its end ends one). Leaving the block drops them all."""

    def __init__(self, opening: bytes = HEADERS):
        self.opening = opening
        self.open = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def __enter__(self) -> DripServer:
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self.listener.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}{path}"

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn = self.listener.accept()[0]
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with self._lock:
            self.open += 1
        try:
            with conn:
                conn.recv(65536)  # the request
                conn.sendall(self.opening)
                while not self._closing.wait(DRIP):
                    conn.sendall(b"a")  # fails once the client has closed its end
        except OSError:
            pass
        finally:
            with self._lock:
                self.open -= 1


@pytest.fixture
def drip():
    with DripServer() as server:
        yield server


def wait_for(check, timeout: float) -> bool:
    ends = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= ends:
            return False
        time.sleep(0.05)
    return True


def fetch_in_thread(url: str, deadline: float) -> tuple[threading.Thread, dict]:
    """HttpFetcher(...).get(url) on a daemon thread (a fetch that never ends must not hang the
    test); the dict gets its error."""
    said: dict = {}

    def fetch() -> None:
        try:
            fetcher = HttpFetcher("drip", timeout=deadline / 2, deadline=deadline)
            fetcher.get(url, {"If-None-Match": '"v1"'})
        except SourceError as exc:
            said["error"] = exc.message

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    return thread, said


@pytest.mark.parametrize("opening", OPENINGS.values(), ids=OPENINGS.keys())
def test_headers_dripped_past_the_deadline_end_the_fetch_at_it(opening):
    with DripServer(opening) as server:
        url = server.url("/feed.xml")
        thread, said = fetch_in_thread(url, deadline=1.0)
        thread.join(timeout=8)
        assert not thread.is_alive(), "the fetch went on past its deadline (still dripping)"
        assert said.get("error") == f"gave up on {url} after 1 s (deadline)"
        assert wait_for(lambda: server.open == 0, 2)  # the socket was let go


@pytest.mark.parametrize("opening", [HEADERS, BODY], ids=["headers", "body"])
def test_a_fetch_given_up_at_its_source_deadline_lets_go_of_its_socket_then(opening):
    # timeout 20 s: the HTTP client's own deadline is a minute away (3 x timeout), and the
    # source deadline is 0.5 s. The pool gives the source up then; its GET used to go on
    # for the minute, holding a thread and a connection (each run of `pln schedule` again).
    with DripServer(opening) as server:
        config = source_config("rss", Path("."), "drip", url=server.url("/f.xml"), timeout=20)
        before = set(fetch_threads())
        pool = FetchPool(source_deadline=0.5)
        pool.add(config)
        [outcome] = pool.drain()
        assert outcome.status.error == "source 'drip': gave up after 0.5 s (fetch.source_deadline)"
        assert wait_for(lambda: server.open == 0, 10), "the given-up fetch still holds its socket"
        assert wait_for(lambda: not set(fetch_threads()) - before, 5)


def test_a_get_past_the_pools_deadline_says_which_deadline_it_met(drip):
    # Were the pool busy when its deadline came, the GET's own end is what the source reports.
    url = drip.url("/feed.xml")
    bound = bounded_by(time.monotonic() + 0.3, "after 0.3 s (source deadline)")
    with bound, pytest.raises(SourceError) as raised:
        HttpFetcher("drip", timeout=20).get(url)
    assert raised.value.message == f"gave up on {url} after 0.3 s (source deadline)"


def read_before(tmp_path: Path, urls: dict[str, str]) -> Path:
    """A config of feeds read before (their cursors are in the store, so a run probes them
    with a conditional GET on the parent's threads and loads no NLP), timeout 0.5 s (the
    whole fetch: 1.5 s), given up by the run after 0.5 s."""
    sources = "".join(
        f"  - {{name: {name}, type: rss, url: '{url}', interval: 1, timeout: 0.5}}\n"
        for name, url in urls.items()
    )
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"sources:\n{sources}"
        "topics:\n  - {id: practice, phrases: [spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
        "fetch: {source_deadline: 0.5}\n"
    )
    db = tmp_path / "out" / "pln.duckdb"
    db.parent.mkdir(exist_ok=True)
    with Store(db) as store:
        statuses = [SourceStatus(name, "rss", True, cursor={"etag": '"v1"'}) for name in urls]
        store.update_sources(statuses, run_id="earlier")
    return path


def fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pln-fetch"]


def test_scheduled_runs_against_dripped_headers_leave_no_thread_behind(tmp_path, drip):
    config = load_config(
        read_before(tmp_path, {f"drip{i}": drip.url(f"/{i}.xml") for i in (1, 2, 3)})
    )
    before = set(fetch_threads())
    for run in range(2):  # as `pln schedule` runs them, in one process
        if run:
            time.sleep(2.1)  # a failing feed with interval 1 s is polled again after 2 s
        errors = run_batch(config).stats["sources"]["errors"]
        assert sorted(errors) == ["drip1", "drip2", "drip3"]
        assert all("gave up after 0.5 s (fetch.source_deadline)" in e for e in errors.values())
    # Each given-up fetch ends at its own deadline (1.5 s after it started), and its socket
    # with it: the server no longer drips to anyone.
    assert wait_for(lambda: not set(fetch_threads()) - before, 3), (
        f"{len(set(fetch_threads()) - before)} fetch threads outlived their deadline"
    )
    assert wait_for(lambda: drip.open == 0, 2), f"{drip.open} connections still open"
