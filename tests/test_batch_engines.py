"""The local batch engine (the default) against the Beam pipeline: the same job, the same
rows and feeds, with one worker process or several; and Ctrl-C during a local run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from example_runs import QUERIES, run_example
from helpers import child_pids, descendant_pids, is_running
from httpserver import AnsweringServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def beam_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("beam")
    rows, feeds = run_example(work / "run", engine="beam", workers=1)
    return rows, feeds, work / "run" / "out" / "pln.duckdb.key"


@pytest.mark.parametrize(("engine", "workers"), [("local", 1), ("local", 2), ("beam", 2)])
def test_every_engine_writes_what_the_in_process_beam_pipeline_writes(
    beam_run, tmp_path, engine, workers
):
    """The local engine with one worker or two, and Beam's multi-process mode (whose workers
    have only what was pickled into the DoFns), against Beam in one process."""
    beam_rows, beam_feeds, key = beam_run
    rows, feeds = run_example(tmp_path / "run", feed_key=key, engine=engine, workers=workers)
    assert len(beam_rows["items"]) > 400 and len(beam_rows["decisions"]) > 100
    assert beam_rows["dead_letters"]
    for table in QUERIES:
        assert rows[table] == beam_rows[table], table
    assert len(feeds) >= 12
    assert feeds == beam_feeds


def test_a_local_run_written_in_many_parts_stores_the_stories_of_one_write(
    beam_run, tmp_path, monkeypatch
):
    """The parent writes whenever it holds FLUSH_BYTES of items in Arrow (25,000 whole blog
    posts are 194 MB). Written a batch of 40 items at a time, the example has the rows and
    feeds of the Beam run, which writes once, and the same stories: its X export of August to October, read
    newest first, is written after November's posts, and its near-duplicates still find each
    other. A story's head is the item stored first, so it may be another item of the story."""
    from pln.pipelines import local_batch, tables
    from pln.sinks.store import Store

    beam_rows, beam_feeds, key = beam_run
    writes = []
    write_tables = Store.write_tables

    def counted(store, items, *args, **kwargs):
        writes.append(items.num_rows)
        return write_tables(store, items, *args, **kwargs)

    monkeypatch.setattr(local_batch, "BATCH_ITEMS", 40)
    monkeypatch.setattr(tables, "FLUSH_BYTES", 1)  # a write whenever a batch comes
    monkeypatch.setattr(Store, "write_tables", counted)
    rows, feeds = run_example(tmp_path / "run", feed_key=key, engine="local", workers=1)
    assert len(writes) > 8 and sum(writes) == len(beam_rows["items"])
    for table in QUERIES.keys() - {"stories"}:
        assert rows[table] == beam_rows[table], table
    assert _stories(rows["stories"]) == _stories(beam_rows["stories"])
    assert feeds.keys() == beam_feeds.keys()


def _stories(members: list[tuple[str, str]]) -> set[frozenset[str]]:
    """The items of each story, without saying which one heads it."""
    stories: dict[str, set[str]] = {}
    for item, story in members:
        stories.setdefault(story, set()).add(item)
    return {frozenset(items) for items in stories.values()}


FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>Spaced repetition at work</title><link>https://e.example/1</link>
<description>How we used spaced repetition for onboarding.</description></item>
</channel></rss>"""


def one_feed_config(tmp_path: Path, extra: str = "") -> Path:
    """pln.yaml reading FEED from good.xml, with a topic that keeps its one item; `extra`:
    more config lines."""
    (tmp_path / "good.xml").write_text(FEED)
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n  - {name: good, type: rss, path: good.xml}\n"
        "topics:\n  - {id: sr, title: SR, phrases: [spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n" + extra
    )
    return config


def python_lines(script: str, config: Path) -> list[str]:
    """The lines a fresh interpreter prints running `script` in `config`'s folder, after
    `config = load_config(...)` of it."""
    head = f"from pln.config import load_config\nconfig = load_config({str(config)!r})\n"
    run = [sys.executable, "-c", head + script]
    return subprocess.run(
        run, capture_output=True, text=True, check=True, cwd=config.parent
    ).stdout.splitlines()


@pytest.fixture
def hung():
    """A server that hangs Mastodon sources in the workers (the probe takes feeds, never these):
    `/api/v1/timelines/tag/stuckN` answers nothing until `release` is set, then one status,
    N; `waiting()` counts the requests it holds. `/good.xml` answers at once with item 1."""
    release = threading.Event()
    held: list[str] = []

    def answer(path: str):
        if path == "/good.xml":
            return 200, {"Content-Type": "application/rss+xml"}, FEED.encode()
        held.append(path)
        release.wait(120)
        n = path.split("?")[0].rsplit("/stuck", 1)[-1]
        status = {
            "id": n,
            "created_at": "2026-11-19T21:00:00.000Z",
            "uri": f"https://social.example/users/jane/statuses/{n}",
            "url": f"https://social.example/@jane/{n}",
            "visibility": "public",
            "content": f"<p>Spaced repetition, take {n}</p>",
            "account": {"id": "1", "username": "jane", "acct": "jane"},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps([status]).encode()

    server = AnsweringServer(answer)
    server.release = release
    server.waiting = lambda: len(held)
    server.source = lambda name, n: (
        f"  - {{name: {name}, type: mastodon, instance: '{server.base}',"
        f" timeline: 'hashtag:stuck{n}', timeout: 100}}\n"
    )
    yield server
    release.set()
    server.close()


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_ctrl_c_stops_a_local_run_with_its_workers_and_the_next_run_works(tmp_path, hung):
    (tmp_path / "good.xml").write_text(FEED)
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n"
        "  - {name: good, type: rss, path: good.xml}\n"
        + hung.source("stuck", 2)
        + "topics:\n  - {id: sr, title: SR, phrases: [spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
        "runner: {workers: 2}\n"
    )
    run = [sys.executable, "-m", "pln.cli", "run", "-c", str(config)]
    # As at a terminal: a job a shell starts in the background (`make test &`, a CI runner)
    # inherits Ctrl-C ignored, and Python then never raises KeyboardInterrupt.
    proc = subprocess.Popen(
        run,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in proc.stderr:  # the good source is done, so the workers are up
        if "✓ good" in line:
            break
    wait_for(lambda: hung.waiting() == 1)
    processes = descendant_pids(proc.pid)  # the crew (worker 0) and the workers it forked
    assert processes, "the run should have a worker waiting on the hung source"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert not [pid for pid in processes if is_running(pid)]

    hung.release.set()
    done = subprocess.run([*run, "-q", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    # Nothing of the stopped run counted as read (cursors are written last): both sources now.
    assert summary["items"]["written"] == 2 and summary["kept"] == 2


def test_the_crew_starts_loading_spacy_before_the_parent_imports_duckdb(tmp_path):
    """Start-up overlaps: the parent imports DuckDB while the crew loads spaCy, rather than
    before it. Arrow (and numpy), which both need, a first run imports before it forks the
    crew, so they are imported once, not in each; a run that may find nothing changed does not
    import Arrow at all before it knows. And the runs still write what they read."""
    config = one_feed_config(tmp_path)
    script = (
        "import sys, multiprocessing.process as mp\n"
        "seen, start = [], mp.BaseProcess.start\n"
        "def starting(p):\n"
        "    seen.append((p.name, 'duckdb' in sys.modules, 'pyarrow.compute' in sys.modules))\n"
        "    start(p)\n"
        "mp.BaseProcess.start = starting\n"
        "from pln.pipelines.batch import run_batch\n"
        "s = run_batch(config)\n"
        "print(seen)\nprint(s.stats['kept'])\n"
    )
    assert python_lines(script, config) == ["[('pln-batch-crew', False, True)]", "1"]
    (tmp_path / "good.xml").write_text(FEED.replace("Spaced", "More on spaced"))
    held = python_lines(script, config)
    assert held == ["[('pln-batch-crew', False, False)]", "1"]  # a held crew


def test_a_worker_imports_nothing_of_its_own_on_its_first_feed(tmp_path):
    """What a worker needs to parse a feed and build its tables (feedparser, the fast parser,
    Arrow's compute functions) is imported before it is forked, once for all of them; each
    imported it on its first feed, 0.06-0.1 s of its start."""
    config = one_feed_config(tmp_path)
    script = (
        "import sys\n"
        "from pln.pipelines import local_batch\n"
        "work = local_batch._work\n"
        "OURS = {'pln', 'feedparser', 'pyarrow', 'numpy'}\n"
        "def working(index, *args):\n"
        "    before = set(sys.modules)\n"
        "    work(index, *args)\n"
        "    new = set(sys.modules) - before\n"
        "    print(sorted(m for m in new if m.split('.')[0] in OURS), flush=True)\n"
        "local_batch._work = working\n"
        "from pln.pipelines.batch import run_batch\n"
        "print(run_batch(config).stats['kept'], flush=True)\n"
    )
    lines = python_lines(script, config)
    assert lines[-1] == "1"  # the run read its feed
    assert lines[:-1] and set(lines[:-1]) == {"[]"}


def users_setting(monkeypatch, name: str, value: str | None) -> None:
    """The environment variable `name` as a user left it: set to `value`, or unset (None)."""
    if value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("chosen", [None, "mimalloc"])
def test_pln_gives_arrow_the_system_allocator_unless_the_user_chose_one(
    tmp_path, monkeypatch, chosen
):
    """Arrow's mimalloc zeroes a whole 2 MB huge page on each first touch; pln's run gives Arrow
    the C library's malloc before Arrow loads, and leaves a user's own choice alone."""
    config = one_feed_config(tmp_path)
    users_setting(monkeypatch, "ARROW_DEFAULT_MEMORY_POOL", chosen)
    script = (
        "import sys\n"
        "from pln.cli import main\n"
        "main(['run', '-q', '-c', 'pln.yaml'])\n"
        "print('pyarrow' in sys.modules, sys.modules['pyarrow'].default_memory_pool().backend_name)\n"
    )
    assert python_lines(script, config)[-1] == f"True {chosen or 'system'}"


@pytest.mark.parametrize("chosen", [None, "2"])
def test_numpy_under_pln_starts_no_spinning_blas_thread_unless_the_user_asks(
    tmp_path, monkeypatch, chosen
):
    """numpy's import starts an OpenBLAS thread that spins for 0.1 s of CPU; under pln it does
    not, unless the user set OPENBLAS_NUM_THREADS."""
    config = one_feed_config(tmp_path)
    users_setting(monkeypatch, "OPENBLAS_NUM_THREADS", chosen)
    script = (
        "import os\n"
        "from pln.cli import main\n"
        "main(['validate', '-c', 'pln.yaml'])\n"
        "before = len(os.listdir('/proc/self/task'))\n"
        "import numpy\n"
        "print(len(os.listdir('/proc/self/task')) - before)\n"
    )
    assert python_lines(script, config)[-1] == ("1" if chosen else "0")


def test_a_run_keeps_the_store_it_wrote_to_for_its_feeds_and_summary(tmp_path):
    """The run's writer stays open for the feeds and the summary: closed and opened again, it
    let a reader that opened the file in between make the run wait, and cost 0.03 s. So a run
    opens the store for writing twice (its start, then the writing loop), and a run that
    changed nothing (no writing loop) twice too; each closes what it opened."""
    config = one_feed_config(tmp_path)
    script = (
        "from pln.sinks import store_db\n"
        "opened, closed = [], []\n"
        "init, close = store_db.Database.__init__, store_db.Database.close\n"
        "def opening(self, *a, **k):\n"
        "    init(self, *a, **k)\n"
        "    opened.append(self.read_only)\n"
        "def closing(self):\n"
        "    closed.append(self.read_only)\n"
        "    close(self)\n"
        "store_db.Database.__init__, store_db.Database.close = opening, closing\n"
        "from pln.pipelines.batch import run_batch\n"
        "for _ in range(2):\n"
        "    opened.clear(); closed.clear()\n"
        "    kept = run_batch(config).stats['kept']\n"
        "    print(kept, opened.count(False), len(closed) == len(opened))\n"
    )
    assert python_lines(script, config) == ["1 2 True", "0 2 True"]


def test_the_crew_loads_spacy_without_collecting_and_its_workers_collect(tmp_path):
    """The crew loads the curator with the cyclic garbage collector off (it would go over
    spaCy's objects over 100 times for nothing), then freezes what it loaded and turns the
    collector back on: the workers it forks still collect their garbage, and leave spaCy's
    objects (and their pages) alone."""
    config = one_feed_config(tmp_path)
    script = (
        "import gc\n"
        "from pln.pipelines import local_batch\n"
        "collections = []\n"
        "gc.callbacks.append(lambda phase, info: collections.append(1) if phase == 'start' else 0)\n"
        "curator = local_batch._load_curator(config, 'fork')\n"
        "print(len(collections), gc.isenabled(), gc.get_freeze_count() > 50_000)\n"
        "tokenizer = curator._nlp.tokenizer\n"
        "print(any(o is tokenizer for o in gc.get_objects()))\n"
        "before = len(collections)\n"
        "garbage = [[] for _ in range(10_000)]\n"
        "print(len(collections) > before)\n"
    )
    out = python_lines(script, config)
    assert out[0] == "0 True True"  # no collection while loading; on again, spaCy frozen
    assert out[1] == "False"  # the tokenizer is among the frozen objects
    assert out[2] == "True"  # what a worker allocates is collected as usual


def test_a_process_that_runs_many_times_freezes_its_objects_once(tmp_path):
    """The parent freezes what it has loaded before it forks the crew (its full collections
    skip it), but only once a process: `pln schedule` runs again and again, and a freeze each
    run would keep that run's garbage for ever."""
    config = one_feed_config(tmp_path)
    script = (
        "import gc\n"
        "from pln.pipelines.batch import run_batch\n"
        "frozen = []\n"
        "for full in (False, True):\n"
        "    kept = run_batch(config, full=full).stats['kept']\n"
        "    frozen.append(gc.get_freeze_count())\n"
        "print(kept, frozen[0] > 10_000, frozen[1] <= frozen[0])\n"
        "print(frozen)\n"
    )
    # Frozen objects can still be freed (the count falls); a second freeze would add the
    # thousands loaded since the first (DuckDB's modules, say).
    assert python_lines(script, config)[0] == "1 True True"


def test_a_pipeline_the_crew_cannot_load_is_one_config_error_line(tmp_path):
    """spaCy loads in the crew process while the parent reads the store; its config mistake
    still reaches the user as one line, with exit code 2. (A pipeline that is not installed,
    or a folder without a pipeline's files, `pln validate` refuses before: the folder here
    has them, but they are not a pipeline.)"""
    (tmp_path / "broken_pipeline").mkdir()
    (tmp_path / "broken_pipeline" / "meta.json").write_text("{")
    (tmp_path / "broken_pipeline" / "config.cfg").write_text("x")
    config = one_feed_config(tmp_path, "nlp: {pipeline: broken_pipeline}\n")
    run = [sys.executable, "-m", "pln.cli", "run", "-q", "-c", str(config)]
    done = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("pln: error: ")
    assert "nlp.pipeline: spaCy pipeline 'broken_pipeline' cannot be loaded: " in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("killed", [0, 1])  # the crew, or the worker it forked
def test_a_worker_killed_in_the_middle_of_a_message_fails_the_run_instead_of_hanging(
    tmp_path, killed
):
    """Workers send their curated batches (about 1 MB each) through one pipe. Stopped
    (SIGSTOP), the parent reads nothing, so a batch stops part-way once the pipe is full;
    then a worker is SIGKILLed. Let go, the parent reads up to the cut: it used to wait there
    forever for the rest (it held a write end of that pipe itself), and a crew whose worker
    died holding the pipe's lock waited forever to report it."""
    entry = "<item><title>Post {n}</title><link>https://b{f}.example/{n}</link><description>{text}</description></item>"
    text = "Notes from the week on coaching, spaced repetition and onboarding. " * 8
    sources = ""
    for f in range(300):  # 15,000 entries: seconds of work, so the crew is busy when killed
        items = "".join(entry.format(f=f, n=n, text=text) for n in range(50))
        (tmp_path / f"b{f}.xml").write_text(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>b{f}</title>{items}'
            "</channel></rss>"
        )
        sources += f"  - {{name: b{f}, type: rss, path: b{f}.xml}}\n"
    (tmp_path / "pln.yaml").write_text(
        "sources:\n" + sources + "topics:\n  - {id: sr, title: SR, phrases: [spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\nrunner: {workers: 2}\n"
    )
    run = [sys.executable, "-m", "pln.cli", "run", "-c", "pln.yaml"]
    proc = subprocess.Popen(run, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        for line in proc.stderr:
            if "✓ b" in line:  # batches are flowing
                break
        (crew,) = child_pids(proc.pid)
        (other,) = child_pids(crew)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(1.5)  # the workers fill the pipe; one stops part-way through a batch
        os.kill([crew, other][killed], signal.SIGKILL)
        time.sleep(1.5)  # the crew's worker sees the crew gone and exits, or the crew stops
        os.kill(proc.pid, signal.SIGCONT)
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("pln run hung after its worker was killed") from None
    finally:
        proc.kill()
    assert code == 1
    error = proc.stderr.read().split("pln: error: ")[-1]
    if killed == 0:
        assert error == "batch worker 0 failed: killed by SIGKILL\n"
    else:  # the crew's report arrives, or it was lost with the worker that held the lock
        assert error in (
            "batch worker 1 failed: killed by SIGKILL\n",
            "a batch worker died while it handed over its results\n",
        )
    time.sleep(1)
    assert not is_running(crew) and not is_running(other)


@pytest.mark.parametrize(
    ("killed", "waiting"),
    [
        (0, 0),  # worker 0 is the crew, which forked worker 1
        (1, 0),
        # 400 sources still queued when the crew dies: more than a pipe holds, so the queue's
        # feeder thread cannot flush them, and the parent used to hang on exit after the error.
        (0, 400),
    ],
)
def test_a_killed_worker_fails_the_run_and_the_next_run_reads_everything(
    tmp_path, hung, killed, waiting
):
    queued = ""
    for n in range(waiting):
        (tmp_path / f"q{n}.xml").write_text(FEED.replace("/1<", f"/q{n}<"))
        queued += f"  - {{name: q{n}, type: rss, path: q{n}.xml}}\n"
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n"
        f"  - {{name: good, type: rss, url: '{hung.base}/good.xml'}}\n"
        # Not feeds, so they reach the workers before the probe hands on any feed: one for
        # each worker, both stay busy, and every feed waits in their queue.
        + hung.source("stuck1", 2)
        + hung.source("stuck2", 3)
        + queued
        + "topics:\n  - {id: sr, title: SR, phrases: [spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
        "runner: {workers: 2}\n"
        "fetch: {concurrency: 1}\n"  # a worker waiting on a hung source takes no other
    )
    run = [sys.executable, "-m", "pln.cli", "run", "-c", str(config)]
    proc = subprocess.Popen(run, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    wait_for(lambda: hung.waiting() == 2)  # a few lines on stderr until then: no need to read
    (crew,) = child_pids(proc.pid)
    (other,) = child_pids(crew)
    os.kill([crew, other][killed], signal.SIGKILL)  # as the OOM killer would
    try:
        code = proc.wait(timeout=30)  # its stderr holds a few lines: it cannot block on them
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("pln run did not exit after its worker was killed") from None
    rest = proc.stderr.read()
    assert code == 1
    assert f"pln: error: batch worker {killed} failed: killed by SIGKILL\n" in rest
    deadline = time.monotonic() + 5  # a worker whose crew died sees it within a second
    while (is_running(crew) or is_running(other)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_running(crew) and not is_running(other)

    hung.release.set()
    done = subprocess.run([*run, "-q", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["items"]["written"] == 3 + waiting
