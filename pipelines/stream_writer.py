"""The single writer of a stream: curated polls and their offsets into DuckDB, then the feeds,
the read snapshot and the heartbeat on a schedule.

Both stream engines use it: the local engine's loader holds the database for the whole run,
the Beam pipeline's write step opens it per commit (several write-step instances then take
turns through DuckDB's file lock).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb

from pln import progress
from pln.config import Config
from pln.errors import PlnError
from pln.record import DeadLetter, SourceStatus
from pln.sinks.label_journal import has_pending, journal_path, take_journaled
from pln.sinks.retention import forget_if_due
from pln.sinks.snapshot import publish_snapshot
from pln.sinks.store import Store
from pln.sinks.store_db import cannot_write, one_line
from pln.sinks.store_forget import Forgotten, forgotten_line
from pln.sinks.stream_store import OffsetRange, Partition, StreamStore

from .heartbeat import Heartbeat
from .polls import CuratedPoll
from .tables import CuratedTables

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("pln.stream")
LATENCY_WINDOW = 20_000  # latest item latencies kept for percentiles
# Progress lines: at most every PROGRESS_EVERY seconds and only when what they show changed;
# an idle stream says so every IDLE_LINE_EVERY seconds (not 25 identical lines a minute). Their
# p95 covers the items written in the last RECENT seconds (a restart's backlog leaves it).
PROGRESS_EVERY = 2.0
IDLE_LINE_EVERY = 300.0
RECENT = 60.0
MEMORY_ENV = "PLN_STREAM_DUCKDB_MEMORY"
# The read snapshot copies the whole file: on average at most this many bytes a second (a 500 MB
# store is copied every 25 s, not every 2), and at least every SNAPSHOT_LONGEST seconds, so a
# live stream's snapshot is always young enough for readers (SNAPSHOT_MAX_AGE, store_db.py).
SNAPSHOT_BYTES_PER_S = 20e6
SNAPSHOT_LONGEST = 45.0
# Feeds are rendered every second, or at most a tenth of the time when rendering is slow (on a
# store of 1M items it takes about 0.4 s: every 4 s, not every 1.6 s at a quarter of a core).
FEEDS_SHARE = 10
LABELS_EVERY = 2.0  # seconds between looks at the feedback journal (a stat)
FORGET_LOOK_EVERY = 600.0  # seconds between looks whether forgetting is due (it runs daily)
# Items one pass between commits forgets at most (2.1-2.4 s a pass at 1M items held, where a
# first pass on a year-old store forgets 500k in 16 s at once), and the pause before the next.
FORGET_PASS_LIMIT = 50_000
FORGET_PASS_PAUSE = 5.0
# Said when a failed checkpoint has left the connection unusable and the stream stops.
KEPT_IN_LOG = "what was committed is kept in its log"


@dataclass
class PollTables:
    """A curated poll in Arrow form (built where it was curated, so the writer only appends)."""

    tables: CuratedTables
    dead_letters: list[DeadLetter] = field(default_factory=list)
    statuses: list[SourceStatus] = field(default_factory=list)
    offsets: dict[Partition, OffsetRange] = field(default_factory=dict)
    timestamps: list[int] = field(default_factory=list)
    worker: int = 0
    lag: int | None = None

    @classmethod
    def of(cls, poll: CuratedPoll, worker: int = 0, lag: int | None = None) -> PollTables:
        return cls(
            CuratedTables.of(poll.items, poll.decisions),
            poll.dead_letters,
            poll.statuses,
            poll.offsets,
            poll.timestamps,
            worker,
            lag,
        )


def stream_memory_mb(items: int) -> int:
    """The stream's DuckDB memory limit for a store of `items` items: 128 MB, plus 384 bytes
    an item. A poll's commit and the feed queries beside it (on the feeds thread) need it:
    they ran out of memory together below 128-192 MB at 100k items, 192-256 MB at 500k and
    256-384 MB at 1M (`bench/bench_soak.py --held 1000000` died of it under 256 MB)."""
    return 128 + (384 * items) // 1_000_000


class StreamWriter:
    def __init__(
        self,
        config: Config,
        run_id: str,
        *,
        hold: bool = True,
        feed_every: float = 1.0,
        snapshot_every: float = 2.0,
        heartbeat: Heartbeat | None = None,
    ):
        self.config, self.run_id, self.hold = config, run_id, hold
        self.sources = {src.name for src in config.sources}
        self._gone_named: bool | None = None  # whether items name a source not configured
        self._pruned = False  # whether the health of sources gone from the config was dropped
        self.db = config.outputs.duckdb
        self.intervals = config.intervals
        self.feed_every, self.snapshot_every = feed_every, snapshot_every
        self.heartbeat = heartbeat
        self.memory_limit = os.environ.get(MEMORY_ENV, "")  # "" : by the store's size
        self.store: StreamStore | None = None
        self._publisher: threading.Thread | None = None
        self.written = 0
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.recent: deque[tuple[float, float]] = deque(maxlen=LATENCY_WINDOW)  # (when, latency)
        self.rates: deque[tuple[float, int]] = deque(maxlen=512)  # (time, items written then)
        self.next_feeds = self.next_snapshot = 0.0
        self.next_forget = 0.0  # monotonic time to look again whether forgetting is due
        self.next_labels = 0.0  # and whether `pln serve` journaled feedback labels
        self.forgotten: Forgotten | None = None  # what the last forgetting did
        self.feeds_stale = self.snapshot_stale = False
        self._said: set[str] = set()  # "feeds", "snapshot": failing, and said so
        self.failed = False  # a write failed (a full disk): the error stops the stream
        self.last_commit = self.written_at = time.monotonic()  # written_at: the last item
        self.ticker_at = 0.0
        self.shown: tuple | None = None  # what the last progress line showed

    # -- the database ------------------------------------------------------------------------

    def open(self) -> StreamStore:
        if self.store is None:
            self.store = StreamStore(self.db)
            self._fit_memory()
            if not self._pruned:  # the ingester polls no source gone from this config
                self.store.forget_unconfigured_sources(self.sources)
                self._pruned = True
        return self.store

    def _fit_memory(self) -> None:
        """DuckDB caches pages up to 80% of RAM by default; a stream that runs for days would
        keep its whole history cached, so it gets a limit (past it, DuckDB spills to disk). The
        feed and page queries and the commits need more as the store grows (stream_memory_mb)."""
        limit = self.memory_limit
        if not limit:
            [(items,)] = self.store.con.execute("SELECT count(*) FROM items").fetchall()
            limit = f"{stream_memory_mb(items)}MB"
        self.store.con.execute(f"SET memory_limit = '{limit}'")

    def _release(self) -> None:
        if not self.hold and self.store is not None:
            self.store.close()
            self.store = None

    def close(self) -> None:
        self._wait_for_publisher()
        if self.store is not None:
            self.store.close()
            self.store = None

    # -- writing -----------------------------------------------------------------------------

    def commit(self, polls: list[PollTables]) -> int:
        """Rows and offsets of `polls` in one transaction; returns the items written."""
        if not polls:
            return 0
        offsets: list[tuple[Partition, OffsetRange]] = [
            (partition, rng) for p in polls for partition, rng in p.offsets.items()
        ]
        tables = CuratedTables.joined([p.tables for p in polls])
        items = tables.items
        store = self.open()
        try:
            self.failed = True  # until the commit succeeded
            store.commit_tables(
                items,
                tables.decisions,
                [d for p in polls for d in p.dead_letters],
                [s for p in polls for s in p.statuses],
                offsets,
                self.run_id,
                self.intervals,
                tables.stories,
            )
            if items.num_rows:  # a renamed source's decisions end as its items come again
                self._forget_gone(store, items)
            self.failed = False
        finally:
            self._release()
        now, mono = time.time(), time.monotonic()
        for p in polls:
            latencies = [now - ts / 1000 for ts in p.timestamps if ts and ts > 0]
            self.latencies.extend(latencies)
            self.recent.extend((mono, latency) for latency in latencies)
        self.written += items.num_rows
        self.last_commit = mono
        if items.num_rows:
            self.written_at = mono
            self.feeds_stale = True
        self.snapshot_stale = True
        return items.num_rows

    def _forget_gone(self, store: StreamStore, items: pa.Table) -> None:
        """`Store.forget_gone_sources` for the items a configured source just delivered, once
        items name a source the config lacks (looked for once, then in each commit): a
        store without such names, the common case, costs nothing per commit."""
        delivered = items.column("source").to_pylist()
        if self._gone_named is None:
            self._gone_named = not self.sources.issuperset(store.named_sources())
        self._gone_named = self._gone_named or not self.sources.issuperset(delivered)
        if not self._gone_named:
            return
        ids = [
            i
            for i, src in zip(items.column("id").to_pylist(), delivered, strict=True)
            if src in self.sources
        ]
        if ids:
            store.forget_gone_sources(self.sources, self.run_id, ids=ids)

    def refresh(self, force: bool = False) -> None:
        """Feeds and the read snapshot, each when due (a slow one is done less often).

        The snapshot is copied here, between commits: it is a copy of the checkpointed file,
        which no commit may change meanwhile (snapshot.py). While the writer holds the file the
        feeds are rendered on a thread of their own, reading through a second cursor, so
        commits go on meanwhile."""
        if force:
            self._wait_for_publisher()
        elif self._publisher is not None and self._publisher.is_alive():
            return
        now = time.monotonic()
        if self.config.outputs.keep_days and now >= self.next_forget:
            self._forget_if_due()
        if now >= self.next_labels:
            self.next_labels = now + LABELS_EVERY
            self._take_labels()
        feeds_due = self.feeds_stale and (force or now >= self.next_feeds)
        snapshot_due = self.snapshot_stale and (force or now >= self.next_snapshot)
        if not (feeds_due or snapshot_due):
            return
        store = self.open()
        try:
            if snapshot_due:
                self.snapshot_stale = False
                self._publish_snapshot(store)
            if not feeds_due:
                return
            self.feeds_stale = False
            self._fit_memory()
            if self.hold and not force:
                self._publisher = threading.Thread(
                    target=self._render_feeds,
                    args=(Store.sharing(store), True),
                    name="pln-feeds",
                    daemon=True,
                )
                self._publisher.start()
            else:
                self._render_feeds(store, False)
        finally:
            self._release()

    def _take_labels(self) -> None:
        """Feedback clicks `pln serve` journaled while the stream held the database: into the
        `labels` table, and so into the next snapshot, where `pln train` reads them."""
        if not has_pending(self.db):
            return
        try:
            store = self.open()
            taken, _ = take_journaled(
                journal_path(self.db), lambda: contextlib.nullcontext(store), progress.say
            )
        except (OSError, PlnError) as exc:  # the journal keeps them: tried again later
            self._warn_once("labels", f"feedback labels not taken from the journal: {exc}")
            return
        finally:
            self._release()
        self._said.discard("labels")
        if taken:
            self.snapshot_stale = True
            progress.say(f"feedback: {taken} label{'s' * (taken != 1)} from the journal stored")

    def _forget_if_due(self) -> None:
        """`outputs.keep_days`: forget old items about once a day, between commits (the store
        notes when it last did, so a restarted stream does not forget again at once)."""
        self.next_forget = time.monotonic() + FORGET_LOOK_EVERY
        store = self.open()
        try:
            forgotten = forget_if_due(store, self.config, limit=FORGET_PASS_LIMIT)
            self._said.discard("forget")
        except duckdb.FatalException as exc:
            self.failed = True
            raise cannot_write(self.db, exc, KEPT_IN_LOG) from None
        except Exception as exc:
            self._warn_once("forget", f"old items not forgotten: {one_line(exc)}")
            return
        finally:
            self._release()
        if forgotten is not None:
            if forgotten.left:
                self.next_forget = time.monotonic() + FORGET_PASS_PAUSE
            self.forgotten = forgotten
            self.feeds_stale = self.snapshot_stale = True
            days = self.config.outputs.keep_days
            progress.say(f"stream: forgot {forgotten_line(forgotten.as_dict(days))}")

    def _render_feeds(self, store: Store, own_handle: bool) -> None:
        """Render the feeds; a failure is a warning, never a stop."""
        from pln.sinks.feeds import render_feeds
        from pln.sinks.feeds_state import record_render

        started = time.monotonic()
        try:
            removed = record_render(self.db, render_feeds(store, self.config))
            if removed:
                progress.say(
                    f"stream: removed the feeds of {', '.join(removed)}: no longer in the config"
                )
            self._said.discard("feeds")
        except Exception as exc:
            self._warn_once("feeds", f"feeds not rendered: {one_line(exc)}")
            self.feeds_stale = True
        finally:
            if own_handle:
                store.close()
        took = time.monotonic() - started
        self.next_feeds = time.monotonic() + max(self.feed_every, FEEDS_SHARE * took)

    def _publish_snapshot(self, store: Store) -> None:
        """Copy the read snapshot; a failure is a warning, but one that leaves the database
        unusable (a checkpoint on a full disk) stops the stream, for a restart to reopen it."""
        started = time.monotonic()
        try:
            publish_snapshot(store.con, self.db)
            self._said.discard("snapshot")
        except duckdb.FatalException as exc:  # its checkpoint failed: the connection is done
            self.failed = True
            raise cannot_write(self.db, exc, KEPT_IN_LOG) from None
        except Exception as exc:
            self._warn_once("snapshot", f"read snapshot not published: {one_line(exc)}")
            self.snapshot_stale = True
        took = time.monotonic() - started
        size = self.db.stat().st_size if self.db.exists() else 0
        wait = max(self.snapshot_every, 2 * took, size / SNAPSHOT_BYTES_PER_S)
        self.next_snapshot = time.monotonic() + min(wait, SNAPSHOT_LONGEST)

    def _warn_once(self, what: str, warning: str) -> None:
        """Say a failure once, not at every try, until `what` works again (a full disk)."""
        if what not in self._said:
            self._said.add(what)
            log.warning("stream: %s", warning)

    def _wait_for_publisher(self) -> None:
        if self._publisher is not None:
            self._publisher.join()
            self._publisher = None

    def idle_for(self) -> float:
        return time.monotonic() - self.last_commit

    def settled(self) -> bool:
        """Nothing waits to be rendered or published."""
        return not (self.feeds_stale or self.snapshot_stale)

    # -- what it has done --------------------------------------------------------------------

    def rate(self, window: float = 10.0) -> float:
        """Items written per second over about the last `window` seconds."""
        now = time.monotonic()
        self.rates.append((now, self.written))
        while len(self.rates) > 2 and now - self.rates[1][0] >= window:
            self.rates.popleft()
        t0, n0 = self.rates[0]
        return (self.written - n0) / (now - t0) if now - t0 >= 0.5 else 0.0

    def latency(self, q: float) -> float | None:
        """The `q` quantile of the latest LATENCY_WINDOW latencies (the run's summary)."""
        return quantile(self.latencies, q)

    def recent_latency(self, q: float) -> float | None:
        """The `q` quantile of the latencies of the items written in the last RECENT seconds."""
        now = time.monotonic()
        while self.recent and now - self.recent[0][0] > RECENT:
            self.recent.popleft()
        return quantile([latency for _, latency in self.recent], q)

    def stats(self) -> dict:
        p50, p95 = self.latency(0.5), self.latency(0.95)
        return {
            "items_written": self.written,
            "items_per_s": round(self.rate(), 1),
            "latency_p50_s": None if p50 is None else round(p50, 3),
            "latency_p95_s": None if p95 is None else round(p95, 3),
        }

    def report(self, lag: int | None, broker: str = "", every: float = PROGRESS_EVERY) -> None:
        """Heartbeat every call; a progress line when what it shows changed (at most every
        `every` seconds), or one saying the stream is idle every IDLE_LINE_EVERY seconds."""
        stats = self.stats()
        if self.heartbeat is not None:
            self.heartbeat.beat(
                **stats,
                lag=lag,
                broker=broker or "ok",
                idle_for_s=round(time.monotonic() - self.last_commit, 1),
            )
        now = time.monotonic()
        shown = (self.written, lag, broker, stats["items_per_s"] > 0)
        unchanged = shown == self.shown
        if now - self.ticker_at < (IDLE_LINE_EVERY if unchanged else every):
            return
        self.ticker_at, self.shown = now, shown
        progress.say("stream: " + " · ".join(self._progress(now, unchanged, lag, broker)))

    def _progress(self, now: float, idle: bool, lag: int | None, broker: str) -> list[str]:
        """The parts of a progress line; `idle`: nothing changed since the last one."""
        written = f"{progress.counted(self.written, 'item')} written"
        if idle:
            parts = [f"idle for {duration(now - self.written_at)}", written]
        else:
            parts = [written, f"{self.rate():,.0f} items/s"]
        if lag is not None:
            parts.append(f"lag {lag:,}")
        p95 = None if idle else self.recent_latency(0.95)
        if p95 is not None:
            parts.append(f"p95 {p95:.2f} s over the last {duration(RECENT)}")
        if broker:
            parts.append(f"broker: {broker}")
        return parts


def quantile(values, q: float) -> float | None:
    """The `q` quantile of `values` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def duration(seconds: float) -> str:
    """ "40 s", "5 min", "2 h 5 min": how long, for a person."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
