"""The local stream engine: curate workers and one loader, as processes this project controls.

```
raw topic --(partitions p % N == i)--> worker i: RawReader.poll -> curate_poll -> curated topic
                                                   \\-> PollTables (Arrow) --queue--> loader
loader (this process): StreamWriter.commit (rows + offsets, one transaction) -> feeds,
                       read snapshot, heartbeat, progress
```
Workers are started with `spawn`, so they share nothing with the loader but what they are given
(settings, the curator built from the config, their start offsets) and the results queue.
Curating is stateless per item, so it spreads over workers by partition; the loader is the
only process that holds the DuckDB file. Beam's in-process streaming runner grew ~15 MB/min
while idle and used a core polling empty bundles; this loop blocks in Kafka polls instead.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass

from pln.config import Config
from pln.errors import PlnError
from pln.filters.curator import Curator
from pln.sinks.stream_store import ResumePoints

from .config_watch import ConfigWatch
from .handover import let_go, put_while_parent_lives
from .kafka_io import KafkaSettings, KafkaUnavailable, ReliableProducer
from .memory import MemoryReleaser, use_system_allocator
from .polls import curate_poll, kept_messages
from .raw_reader import OffsetsOutOfRange, RawReader, owned_by
from .stream_writer import PollTables, StreamWriter

log = logging.getLogger("pln.stream")
COMMIT_LINGER = 0.05  # seconds to gather more polls into one commit
STATUS_LINGER = 1.0  # ... when they hold no items (a feed that answered 304): those can wait,
# and committing each alone cost a stream a third of a core (40 feeds polled every 5 s)
COMMIT_ROWS = 20_000  # ... but no more items than this per commit
HEALTH_EVERY = 1.0  # seconds between a quiet worker's health messages
CLOSE_WHEN_IDLE = 10.0  # seconds without polls before the loader lets go of DuckDB's memory
_RUNNING: set[LocalStream] = set()  # the loops of this process, for stop_running()


def stop_running() -> bool:
    """Ask the stream loops of this process to end at their next turn (SIGTERM: they commit
    what the workers finished and stop as at the end of `--for`); False when none runs."""
    for stream in list(_RUNNING):
        stream.stopping.set()
    return bool(_RUNNING)


@dataclass(frozen=True)
class WorkerSpec:
    index: int
    workers: int
    settings: KafkaSettings
    curator: Curator
    resume: ResumePoints
    parent_pid: int


@dataclass(frozen=True)
class WorkerHealth:
    worker: int
    lag: int | None
    broker: str  # "" while the broker answers


@dataclass(frozen=True)
class WorkerFailed:
    worker: int
    message: str


def worker_main(spec: WorkerSpec, results, stop) -> None:
    """One curate worker: poll its partitions, curate, publish kept items, hand rows over."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the loader stops us through `stop`
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    use_system_allocator()
    settings = spec.settings
    reader = RawReader(
        settings,
        spec.resume,
        owns=owned_by(spec.index, spec.workers),
        on_out_of_range=settings.on_out_of_range,
    )
    producer = ReliableProducer(settings, say=log.warning) if settings.curated_topic else None
    try:
        spec.curator.setup()
        _work(spec, reader, producer, results, stop)
    except (KafkaUnavailable, OffsetsOutOfRange, PlnError) as exc:
        put_while_parent_lives(results, WorkerFailed(spec.index, str(exc)), spec.parent_pid)
    except Exception as exc:  # report it to the loader rather than dying silently
        failed = WorkerFailed(spec.index, f"{type(exc).__name__}: {exc}")
        put_while_parent_lives(results, failed, spec.parent_pid)
    finally:
        let_go(results, spec.parent_pid)
        reader.close()
        if producer is not None:
            producer.close()


def _work(spec: WorkerSpec, reader: RawReader, producer, results, stop) -> None:
    give_up = spec.settings.give_up_after
    told = 0.0
    memory = MemoryReleaser()
    busy = True
    while not stop.is_set():
        if os.getppid() != spec.parent_pid:
            return  # the loader is gone (killed): nobody would commit our work
        poll = reader.poll(timeout_ms=500 if busy else 1000)  # idle: fewer wake-ups
        down = reader.down_for() if reader.last_error else 0.0
        if give_up is not None and down > give_up:
            raise KafkaUnavailable(
                f"kafka {spec.settings.bootstrap}: {reader.last_error}; "
                f"gave up after {give_up:g} s without the broker"
            )
        busy = not poll.empty
        if poll.empty:
            memory.idle()
            if time.monotonic() - told >= HEALTH_EVERY:
                told = time.monotonic()
                health = WorkerHealth(spec.index, reader.lag(), reader.last_error)
                put_while_parent_lives(results, health, spec.parent_pid)
            continue
        curated = curate_poll(spec.curator, poll)
        if producer is not None:
            messages = kept_messages(curated.items, curated.decisions)
            if messages:
                producer.send_all(spec.settings.curated_topic, messages)
        tables = PollTables.of(curated, spec.index, reader.lag())
        if not put_while_parent_lives(results, tables, spec.parent_pid):
            return  # the loader is gone: nobody would commit our work
        memory.busy()


class Inbox:
    """The workers' results, read by a thread of the loader. A worker killed while it writes
    a message leaves the rest of that message missing, and a read of it would wait forever
    (the other workers keep the pipe open); the loader's own loop never reads, so it goes on
    checking its workers and stops on the dead one."""

    def __init__(self, results):
        self._results = results
        self._messages: queue.Queue = queue.Queue(maxsize=1)  # the workers' queue bounds the rest
        self._pumping = threading.Thread(target=self._pump, name="pln-stream-inbox", daemon=True)
        self._pumping.start()

    def writers_started(self) -> None:
        """Close this process's write end of the queue's pipe once the workers have theirs:
        the pump's read then ends when the last worker has ended."""
        self._results._writer.close()

    def close(self, wait: float = 2.0) -> None:
        """After the workers ended: wait for the pump to end, then close the pipe. (Before,
        each start of the stream left a pump thread and the pipe behind: a stream that an
        edited config or a new model restarted gained a thread and 2-3 descriptors each time.)"""
        deadline = time.monotonic() + wait
        while self._pumping.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):  # not committed: read again after a restart
                self._messages.get(timeout=0.05)
        if not self._pumping.is_alive():
            self._results._reader.close()

    def _pump(self) -> None:
        while True:
            try:
                message = self._results.get()
            except (EOFError, OSError, ValueError):  # every writer gone, or the queue closed
                return
            except Exception as exc:  # noqa: BLE001 - a message it cannot read: get raises it
                self._messages.put(exc)
                return
            self._messages.put(message)

    def gather(
        self, first_wait: float, health: dict[int, WorkerHealth]
    ) -> tuple[list[PollTables], WorkerFailed | None]:
        """The polls for one commit: waits `first_wait` for the first, then lingers
        COMMIT_LINGER for more, or STATUS_LINGER while none holds an item. Notes the workers'
        health on the way; stops at a worker's failure, which it returns."""
        polls: list[PollTables] = []
        rows = 0
        wait_until = time.monotonic() + first_wait
        while rows < COMMIT_ROWS:
            try:
                message = self.get(wait_until - time.monotonic())
            except queue.Empty:
                break
            if isinstance(message, PollTables):
                has_items = message.tables.items.num_rows > 0
                linger = time.monotonic() + (COMMIT_LINGER if has_items else STATUS_LINGER)
                if not polls:
                    wait_until = linger
                elif has_items:
                    wait_until = min(wait_until, linger)
                polls.append(message)
                rows += message.tables.items.num_rows
                health[message.worker] = WorkerHealth(message.worker, message.lag, "")
            elif isinstance(message, WorkerHealth):
                health[message.worker] = message
            elif isinstance(message, WorkerFailed):
                return polls, message
        return polls, None

    def get(self, timeout: float):
        """The next message, waiting up to `timeout` seconds (0: not at all); queue.Empty."""
        message = (
            self._messages.get(timeout=timeout) if timeout > 0 else self._messages.get_nowait()
        )
        if isinstance(message, Exception):
            raise message
        return message


class LocalStream:
    """Runs `workers` curate processes and commits their polls until stopped."""

    def __init__(
        self,
        config: Config,
        settings: KafkaSettings,
        writer: StreamWriter,
        resume: ResumePoints,
        workers: int,
        watch: ConfigWatch | None = None,
    ):
        self.config, self.settings, self.writer = config, settings, writer
        self.watch = watch
        self.edited: Config | None = None  # the config the stream stopped to start again with
        self.workers = max(1, workers)
        self.context = mp.get_context("spawn")
        self.results = self.context.Queue(maxsize=4 * self.workers)
        self.inbox = Inbox(self.results)
        self.stop = self.context.Event()
        self.stopping = threading.Event()  # stop_running() asked this loop to end
        curator = Curator.for_config(config)
        self.processes = [
            self.context.Process(
                target=worker_main,
                args=(
                    WorkerSpec(
                        i,
                        self.workers,
                        settings,
                        curator,
                        resume,
                        os.getpid(),
                    ),
                    self.results,
                    self.stop,
                ),
                name=f"pln-curate-{i}",
                daemon=True,
            )
            for i in range(self.workers)
        ]
        self.health: dict[int, WorkerHealth] = {}

    def run(self, stop_after: float | None = None, until_idle: float | None = None) -> None:
        """Until stopped, for `stop_after` seconds, or until nothing arrived for `until_idle`
        seconds (from the start, when nothing does) and no worker reports records waiting."""
        use_system_allocator()
        for process in self.processes:
            process.start()
        self.inbox.writers_started()
        deadline = None if stop_after is None else time.monotonic() + stop_after
        memory = MemoryReleaser()
        _RUNNING.add(self)
        try:
            while not self.stopping.is_set() and (deadline is None or time.monotonic() < deadline):
                self._check_workers()
                polls = self._gather(first_wait=0.5)
                self._commit(polls)
                self.writer.refresh()
                if polls:
                    memory.busy()
                elif self.writer.idle_for() >= CLOSE_WHEN_IDLE and self.writer.settled():
                    self.writer.close()  # DuckDB keeps its cache while open; reopening is ~20 ms
                    memory.idle()
                self.writer.report(self.lag(), self.broker())
                if until_idle is not None and self._drained(until_idle):
                    break
                if self.watch is not None and not self.stopping.is_set():
                    self.edited = self.watch.changed()
                    if self.edited is not None:
                        break  # what is committed stays; the next run resumes after it
        finally:
            try:
                self._shut_down()
            finally:
                _RUNNING.discard(self)

    def _gather(self, first_wait: float) -> list[PollTables]:
        polls, failed = self.inbox.gather(first_wait, self.health)
        if failed is not None:
            self._commit(polls)  # what the other workers already did is good
            raise PlnError(f"curate worker {failed.worker}: {failed.message}")
        return polls

    def _commit(self, polls: list[PollTables]) -> None:
        # After a failed write (a full disk) nothing more: the error that stops us says it.
        if polls and not self.writer.failed:
            self.writer.commit(polls)

    def _check_workers(self) -> None:
        for i, process in enumerate(self.processes):
            if process.exitcode is not None and not self.stop.is_set():
                raise PlnError(f"curate worker {i} exited unexpectedly (code {process.exitcode})")

    def _drained(self, idle: float) -> bool:
        """Nothing arrived for `idle` seconds (since the start, when nothing did) and no
        worker reports records waiting. Before anything is written, every worker must have
        seen the end of its partitions: one still starting knows of no backlog yet."""
        if time.monotonic() - self.writer.last_commit < idle:
            return False
        lag = self.lag()
        return lag == 0 or (lag is None and self.writer.written > 0)

    def lag(self) -> int | None:
        lags = [h.lag for h in self.health.values()]
        if len(lags) < self.workers or any(lag is None for lag in lags):
            return None
        return sum(lags)

    def broker(self) -> str:
        return next((h.broker for h in self.health.values() if h.broker), "")

    def _shut_down(self) -> None:
        """Stop the workers, commit what they finished, and make sure none is left running."""
        self.stop.set()
        said: set[str] = set()  # a failure that repeats at every try: say it once

        def commit_finished(first_wait: float) -> None:
            try:
                self._commit(self._gather(first_wait))
            except PlnError as exc:
                if str(exc) not in said:
                    said.add(str(exc))
                    log.warning("stream: %s", exc)

        deadline = time.monotonic() + 15.0
        while any(p.is_alive() for p in self.processes) and time.monotonic() < deadline:
            commit_finished(0.2)
        commit_finished(0.0)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=5)
        self.inbox.close()
        for process in self.processes:
            if process.exitcode is not None:
                process.close()  # its sentinel pipe now, not whenever it is garbage-collected
