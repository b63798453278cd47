"""The local batch engine: the batch job as processes this project controls (the default).

```
parent: config -> start the crew -> store, cursors -> probe (a thread) -> each task --queue--+
crew:             load spaCy and the model, fork workers 1..n-1                             |
worker i (the crew is worker 0): FetchPool (threads) -> batches -> curate  <----------------+
                                                           | Arrow tables
parent (the one DuckDB writer): write_tables  <---queue----+   (from the first task on)
        then source statuses (cursors last), as the Beam engine does
```
The crew process is forked when the run starts, before the probe's threads exist. It loads the
curator (spaCy, the model) at once on a first run; otherwise it is held (a fork, nothing
loaded) until the probe meets the first changed feed or a source it cannot settle, and a run
where nothing changed stops it unused (see pipelines/batch.py). So spaCy loads while the
parent opens the store and the probe waits on servers, steps that used to run one after the
other. It then forks the other workers, which share its
spaCy pages and start in milliseconds (where `fork` is missing they are spawned and load their
own), works as worker 0 and watches them: a worker that dies is reported to the parent, and the
crew stops its workers when it is stopped or the parent dies. The probe puts each changed feed
on the queue as it finds it (`add`) and the workers' ends once it is over (`end_tasks`), while
the parent writes (`write`): a worker waits for the queue only when it has nothing else to do,
and curates what it has after IDLE_SECONDS without a new source, so a server the probe still
waits on holds back nothing that came before. Each worker pulls sources from a
shared queue while its fetch pool has room, so a few big sources do not leave a worker idle
while another has a backlog; sources that wait only for their host's turn (`per_host`) do not
take that room, up to a bound, so a slow host listed first does not hold up the others.
Progress lines and every row reach the parent, which alone prints and writes.

Compared with the Beam pipeline on the in-process runner (`runner.engine: beam`), this saves
Beam's per-element machinery and lets parsing, curating and writing run on separate cores.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import queue
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from pln import progress
from pln.config import Config
from pln.errors import PlnError
from pln.record import DeadLetter, Item, SourceStatus

from .handover import flush_within, get_while_parent_lives, let_go, put_while_parent_lives

if TYPE_CHECKING:  # the crew starts before the parent imports DuckDB and Arrow (batch.py)
    from pln.sinks.store import Store
    from pln.sources.fetch_pool import Fetched

    from .probe import SourceTask
    from .tables import CuratedTables

WORKER_DIED = 3  # the crew's exit code after one of its workers died
SLOW_NOTE = 10.0  # a source still being read after this many seconds is named
IDLE_SECONDS = 1.0  # without results for this long, the parent writes what it has and lets go
REPORT_WAIT = 5.0  # seconds the crew gives its report of a dead worker to reach the parent
BATCH_ITEMS = 1000  # items curated together (spaCy and Arrow both like large batches)


@dataclass(frozen=True)
class SourceDone:
    status: SourceStatus
    dead: list[DeadLetter]
    note: str  # the progress line


@dataclass(frozen=True)
class Note:
    """A progress line that is not a source's end (a source still being read)."""

    line: str


@dataclass(frozen=True)
class WorkerDone:
    worker: int
    error: str = ""  # a traceback when the worker broke


@dataclass(frozen=True)
class CrewFailed:
    """The curator could not be loaded (a config mistake, say): the run stops with this."""

    message: str
    exit_code: int


class LocalBatch:
    """The processes of one run; `start` them as soon as the run knows it will need them,
    before it knows what they will read."""

    def __init__(self, config: Config):
        self.config = config
        self.method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        self.workers = max(1, config.runner.workers)
        self.crew = None
        self.written_to: Store | None = None  # the store `write` left open (`take_store`)

    def start(self, held: bool = False) -> None:
        """Start the crew. `held`: it waits for `release` before it loads anything, so a run
        that may curate (the probe will tell) forks it before the probe starts threads, yet
        pays only a fork when nothing changed."""
        if self.crew is None:
            context = mp.get_context(self.method)
            self.todo = context.Queue()
            # Roomy: a worker must not wait while the parent writes (1,000 items are ~1 MB).
            self.results = context.Queue(maxsize=256 * self.workers)
            self.go = context.Event()
            args = (self.config, self.workers, self.method, self.todo, self.results, os.getpid())
            self.crew = context.Process(
                target=_crew_main, args=(*args, self.go), name="pln-batch-crew"
            )
            _freeze_once()
            self.crew.start()
            # Only the crew and its workers write results. Without the parent's own copy of
            # the pipe's write end, a crew that dies in the middle of a message leaves the
            # parent an end of file, not a read that waits forever for the rest.
            self.results._writer.close()
        if not held:
            self.release()

    def release(self) -> None:
        """Let a held crew load the curator (at the first changed feed, say)."""
        if self.crew is not None:
            self.go.set()

    def run(self, tasks: list[SourceTask], run_id: str) -> int:
        """Fetch, curate and write `tasks`; the number of items written."""
        self.start()
        for task in tasks:
            self.add(task)
        self.end_tasks()
        return self.write(run_id)

    def add(self, task: SourceTask) -> None:
        """One more source for the workers (from any thread of the parent, once started): the
        probe hands each changed feed over as it finds it (pipelines/probe.py)."""
        self.todo.put(task)

    def end_tasks(self) -> None:
        """No more sources: each worker ends when it has done the ones it took."""
        for _ in range(self.workers):
            self.todo.put(None)

    def write(self, run_id: str, check: Callable[[], None] | None = None) -> int:
        """Write what the workers send until they are done (`end_tasks`, from this thread or
        another); the number of items written. `check` is called with every message and every
        idle second: what it raises (the probe's thread broke) ends the run. The store it
        wrote to stays open for the run's last steps (`take_store`)."""
        written, self.written_to = _write_results(
            self.config, run_id, self.results, self.crew, self.workers, check=check
        )
        return written

    def take_store(self) -> Store | None:
        """The store `write` left open, now the caller's to close; None if it wrote nothing.
        Closing it and opening it again cost the run's end 0.03 s, and let a reader that
        opened the file in between make the run wait for it."""
        store, self.written_to = self.written_to, None
        return store

    def stop(self) -> None:
        """Stop the crew and its workers, unless they are done (or never started), and close
        a store nobody took."""
        if self.written_to is not None:
            self.take_store().close()
        if self.crew is None:
            return
        if self.crew.is_alive():
            self.crew.terminate()  # the crew stops its workers first
        self.crew.join(timeout=10)
        # Tasks no worker took (the crew died, or the run failed) must not keep this process
        # from exiting: the queue's feeder thread would wait forever to flush them into a
        # pipe that nobody reads, and the store's lock would stay held.
        self.todo.cancel_join_thread()


def _write_results(
    config: Config, run_id: str, results, crew, workers: int, check=None
) -> tuple[int, Store]:
    """The parent's loop: print progress, write rows as they come, statuses at the end. Returns
    the number of items written and the store, still open."""
    from .tables import FLUSH_BYTES, FLUSH_ROWS, CuratedTables

    pending: list[CuratedTables] = []
    dead: list[DeadLetter] = []
    statuses: list[SourceStatus] = []
    running = workers
    ticker = progress.Ticker("written")
    writes = _IdleStore(config.outputs.duckdb)

    def let_go() -> None:  # nothing came for a while (a slow feed): readers may have the file
        if check is not None:
            check()
        if pending or dead:
            _flush(writes.store, run_id, pending, dead, ticker)
        writes.close()

    try:
        while running:
            message = _next_result(results, crew, on_idle=let_go)
            if check is not None:
                check()
            if isinstance(message, CuratedTables):
                pending.append(message)
                rows = sum(t.items.num_rows for t in pending)
                if rows >= FLUSH_ROWS or sum(t.nbytes for t in pending) >= FLUSH_BYTES:
                    _flush(writes.store, run_id, pending, dead, ticker)
            elif isinstance(message, SourceDone):
                progress.say(message.note)
                statuses.append(message.status)
                dead.extend(message.dead)
            elif isinstance(message, list):  # items the filters could not read
                dead.extend(message)
            elif isinstance(message, Note):
                progress.say(message.line)
            elif isinstance(message, WorkerDone):
                if message.error:
                    _flush(writes.store, run_id, pending, dead, ticker)  # keep what others did
                    sep = "\n" if "\n" in message.error.strip() else " "  # a traceback or a line
                    raise PlnError(f"batch worker {message.worker} failed:{sep}{message.error}")
                running -= 1
            elif isinstance(message, CrewFailed):
                error = PlnError(message.message)
                error.exit_code = message.exit_code
                raise error
        if check is not None:
            check()
        _flush(writes.store, run_id, pending, dead, ticker)
        # Cursors last: if anything above failed, the next run reads those sources again.
        writes.store.update_sources(statuses, run_id=run_id, intervals=config.intervals)
        store = writes.detach()
    finally:
        writes.close()
    ticker.close()
    return ticker.count, store


class _IdleStore:
    """The parent's store while the workers run: opened at once (DuckDB and the write path
    load while the crew loads spaCy), closed by `close()` when results stop coming for a
    while, and opened again by the next write. DuckDB lets no other process open a file that
    one holds for writing, so a run that held it while one slow feed took its two minutes
    kept `pln sql` and `pln serve` out all that time."""

    def __init__(self, path) -> None:
        self.path = path
        self._store: Store | None = None
        _ = self.store.writer  # loads the write path (Arrow) while the crew loads spaCy

    @property
    def store(self) -> Store:
        if self._store is None:
            from pln.sinks.store import Store

            self._store = Store(self.path, bulk=True)
            # The workers keep both cores busy: DuckDB's own threads would only queue behind.
            self._store.con.execute("SET threads = 1")
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store, store = None, self._store
            store.close()

    def detach(self) -> Store:
        """The store, open, handed over without closing it: its new owner closes it."""
        store, self._store = self.store, None
        return store


def _next_result(results, crew, on_idle=None):
    """The next message from the workers; `on_idle` is called each second none comes."""
    while True:
        try:
            return results.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            if crew.exitcode not in (None, 0):
                raise PlnError(_crew_failed(crew.exitcode)) from None
            if on_idle is not None:
                on_idle()
        except (EOFError, OSError):  # every writer is gone, maybe one in the middle of a message
            crew.join(timeout=REPORT_WAIT + 5)
            raise PlnError(_crew_failed(crew.exitcode)) from None


def _crew_failed(exitcode: int | None) -> str:
    if exitcode == WORKER_DIED:  # and its report of which one was lost with that worker
        return "a batch worker died while it handed over its results"
    if exitcode:
        return f"batch worker 0 failed: {_death(exitcode)}"
    return "batch worker 0 failed: its results ended early"


def _flush(store: Store, run_id: str, pending: list[CuratedTables], dead, ticker) -> None:
    from .tables import CuratedTables

    if not (pending or dead):
        return
    tables = CuratedTables.joined(pending)
    store.write_tables(
        tables.items, tables.decisions, dead, run_id=run_id, story_keys=tables.stories
    )
    ticker.add(tables.items.num_rows)
    pending.clear()
    dead.clear()


@dataclass(frozen=True)
class _Outbox:
    """The results queue as a worker sees it: messages to a parent that may have been killed."""

    queue: Any
    parent_pid: int

    def put(self, message) -> None:
        if not put_while_parent_lives(self.queue, message, self.parent_pid):
            os._exit(1)  # the parent is gone: nobody would write our work

    def close(self) -> None:
        let_go(self.queue, self.parent_pid)

    def flush(self, timeout: float) -> None:
        flush_within(self.queue, timeout)


def _crew_main(
    config: Config, workers: int, method: str, todo, results, parent_pid: int, go
) -> None:
    """Wait for `go`, load the curator, fork the other workers, then work as worker 0 and
    watch them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the crew
    while not go.wait(timeout=1.0):
        if os.getppid() != parent_pid:
            os._exit(0)  # the parent is gone before it needed us
    outbox = _Outbox(results, parent_pid)
    try:
        curator = _load_curator(config, method)
    except PlnError as exc:
        outbox.put(CrewFailed(str(exc), exc.exit_code))
        outbox.close()
        os._exit(1)
    context = mp.get_context(method)
    others = {
        i: context.Process(
            target=_worker_main,
            args=(i, curator, config, todo, _Outbox(results, os.getpid())),
            name=f"pln-batch-{i}",
            daemon=True,
        )
        for i in range(1, workers)
    }
    for process in others.values():
        process.start()
    team = _Team(others, outbox)
    signal.signal(signal.SIGTERM, lambda *_: team.stop(1))
    _work(0, curator, config, todo, outbox, team.watch)
    while team.running:
        team.watch(block=True)
        if os.getppid() != parent_pid:
            team.stop(1)  # the parent was killed: nobody would write our work
    outbox.close()
    os._exit(0)  # a forked child must not run the parent's exit handlers


class _Team:
    """The workers the crew forked, and which of them still run."""

    def __init__(self, processes: dict[int, Any], outbox: _Outbox):
        self.running = dict(processes)
        self.outbox = outbox

    def watch(self, block: bool = False) -> None:
        """Report the workers that died (a worker that raised said so itself and exited 0);
        `block`: first wait up to 1 s for one to end."""
        if block and self.running:
            wait([p.sentinel for p in self.running.values()], timeout=1.0)
        for i, process in list(self.running.items()):
            if process.exitcode is not None:
                del self.running[i]
                if process.exitcode != 0:
                    self.outbox.put(WorkerDone(i, _death(process.exitcode)))
                    # The run has failed: the parent stops it on this report. A worker killed
                    # while it wrote a message held the results queue's lock, and then the
                    # report never leaves; so the crew does not wait for it long.
                    self.outbox.flush(timeout=REPORT_WAIT)
                    self.stop(WORKER_DIED)

    def stop(self, code: int) -> None:
        """Stop the workers still running (the others were reaped by `watch`), then exit."""
        for process in self.running.values():
            process.terminate()
        for process in self.running.values():
            process.join(timeout=5)
        os._exit(code)


def _death(exitcode: int) -> str:
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            pass
    return f"exited unexpectedly (code {exitcode})"


_frozen = False


def _freeze_once() -> None:
    """Leave what the parent has loaded by now (modules, the config) out of every later
    collection, once a process (`pln schedule` runs many times). Its full collections took
    25-37 ms each, twice a run, once during the final write; and the crew forked next does not
    copy the pages a collection would write to."""
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True


def _load_curator(config: Config, method: str):
    """The curator, loaded with the cyclic garbage collector off and then frozen.

    Importing spaCy and building the tokenizer allocate about 90,000 objects that live as long
    as the process; the collector would go over them more than 100 times meanwhile, for nothing:
    0.05-0.15 s of the crew's start, which every run waits for. Frozen, they are left out of
    every later collection, so the workers forked after this never write to their pages either.
    """
    gc.disable()
    try:
        from pln.filters.curator import Curator

        curator = Curator.for_config(config)
        if method == "fork":
            curator.setup()  # before forking: the workers inherit spaCy and the model
            _import_worker_modules()
        return curator
    finally:
        gc.freeze()
        gc.enable()


def _import_worker_modules() -> None:
    """What the workers use beyond the curator (fetching, parsing, Arrow), imported once before
    they are forked, so they share it and start at once. Each of them imported the feed parsers
    (feedparser's with them) and Arrow's compute functions on its first feed: 0.06-0.1 s."""
    import numpy.ma  # noqa: F401  (pa.array of a numpy array imports it)
    import pyarrow.compute  # noqa: F401

    from pln.sources import feed_parse, feed_repair, fetch_pool, rss  # noqa: F401

    from . import polls, probe, tables  # noqa: F401


def _worker_main(index: int, curator, config: Config, todo, results: _Outbox) -> None:
    # Ctrl-C reaches the whole process group; the parent stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _work(index, curator, config, todo, results)
    results.close()
    os._exit(0)  # a forked child must not run the parent's exit handlers


def _work(index: int, curator, config: Config, todo, results: _Outbox, watch=None) -> None:
    """Fetch and curate until the queue says stop, then tell the parent how it went."""
    try:
        _fetch_and_curate(curator, config, todo, results, watch)
    except BaseException:  # noqa: BLE001 - the parent reports it
        results.put(WorkerDone(index, traceback.format_exc(limit=8)))
    else:
        results.put(WorkerDone(index))


def _fetch_and_curate(curator, config: Config, todo, results: _Outbox, watch=None) -> None:
    from pln.sources.fetch_pool import FetchPool

    fetch = config.fetch
    pool = FetchPool(fetch.concurrency, fetch.per_host, fetch.source_deadline, local=1)
    curator.setup()  # a no-op when forked after the parent's setup
    batch: list[Item] = []
    told: dict[str, float] = {}  # slow sources named, and when to name them again
    last_finished = time.monotonic()
    more = True
    # Sources that wait only for their host's turn (`per_host` of its fetches running) do not
    # stop a worker from taking more, or a config listing a slow host's feeds first would keep
    # the other hosts' feeds in the queue behind them (12 slow feeds before 10 fast ones at
    # concurrency 8 ran 4 at a time, and the fast ones waited 16 s). They are bounded, so one
    # worker does not hoard the queue: it digs past at most 2 x concurrency of them (64 at the
    # default) for sources it can start, then takes no more until its backlog shrinks, and the
    # other workers take what follows. A source held here waits for this worker's per-host
    # slots while another worker might have run it; with one worker (the default) a larger
    # bound would cost only memory, with several, two rounds of the pool keep that wait short.
    host_blocked = 2 * fetch.concurrency
    while more or len(pool):
        while more and pool.has_room(host_blocked):
            # Sources come while the probe goes on (pipelines/probe.py): a worker waits for
            # the next one only when it has nothing else to do, and not past IDLE_SECONDS
            # while items wait to be curated, so what came before a slow server is written.
            if len(pool):
                task = _take(todo)
            elif batch:
                task = _take(todo, last_finished + IDLE_SECONDS - time.monotonic())
            else:
                # The crew watches its workers while it waits too: one killed while it read
                # a task holds the queue's lock, and no task comes any more.
                task = get_while_parent_lives(todo, results.parent_pid, between=watch)
            if task is _NONE_YET:
                break
            if task is None:
                more = False
            else:
                pool.add(task.config, task.cursor, task.run_deadline_at, task.prefetched)
                if pool.local_waiting():
                    break  # one local read at a time: leave the next ones to idle workers
        if not len(pool):  # no task for a while: curate what came, then wait for more
            if batch:
                _curate(curator, batch, results)
                batch.clear()
            continue
        # While more may come, look at the queue often: a slow source in the pool must not
        # keep a source the probe just handed over waiting.
        finished = pool.finished(timeout=0.25 if more else 1.0)
        if os.getppid() != results.parent_pid:
            os._exit(1)  # the parent was killed: nobody would write our work
        if watch is not None:
            watch()
        for fetched in finished:
            batch.extend(_report(fetched, results))
            while len(batch) >= BATCH_ITEMS:
                _curate(curator, batch[:BATCH_ITEMS], results)
                del batch[:BATCH_ITEMS]
        if finished:
            last_finished = time.monotonic()
        elif time.monotonic() - last_finished >= IDLE_SECONDS:
            if batch:  # waiting on a slow source: what came before it is written meanwhile
                _curate(curator, batch, results)
                batch.clear()
            _name_slow_sources(pool, told, results)
    pool.close()
    if batch:
        _curate(curator, batch, results)


_NONE_YET = object()  # no source in the queue right now


def _take(todo, timeout: float = 0.0):
    """The next source if one comes within `timeout` seconds (none: only one there already),
    else _NONE_YET. The queue's lock may be held by a worker waiting for one: it takes it."""
    try:
        return todo.get(timeout=timeout) if timeout > 0 else todo.get_nowait()
    except queue.Empty:
        return _NONE_YET


def _name_slow_sources(pool, told: dict[str, float], results) -> None:
    """Name the sources still being read after SLOW_NOTE seconds (FetchPool.slow_notes)."""
    for line in pool.slow_notes(told, SLOW_NOTE):
        results.put(Note(line))


def _report(fetched: Fetched, results) -> list[Item]:
    """Send the source's status, dead letters and progress line; return its items."""
    dead = list(fetched.result.dead_letters) if fetched.status.ok else []
    results.put(SourceDone(fetched.status, dead, fetched.progress_line))
    return fetched.result.items if fetched.status.ok else []


def _curate(curator, items: list[Item], results) -> None:
    from .polls import curate_items  # in the workers: the parent never imports spaCy
    from .tables import CuratedTables

    good, decisions, dead = curate_items(curator, items)
    if dead:
        results.put(dead)
    if good:
        results.put(CuratedTables.of(good, decisions))
