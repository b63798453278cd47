"""The batch job asks each feed once per run: unchanged feeds are settled before the pipeline,
changed ones are parsed from the response already fetched (real server on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import db_rows, row_count
from httpserver import RecordedServer

from pln.config import load_config
from pln.pipelines.batch import run_batch
from pln.sinks.store import Store
from pln.sources.zoom import MEETING_CHAT

FEED = (Path(__file__).parent / "fixtures" / "feeds" / "rss2.xml").read_bytes()


def write_config(tmp_path: Path, server: RecordedServer, names: list[str]) -> Path:
    sources = "\n".join(
        f'  - {{name: {n}, type: rss, url: "{server.url(f"/{n}.xml")}"}}' for n in names
    )
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"sources:\n{sources}\n"
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    return path


def serve_once_then_304(server: RecordedServer, name: str) -> None:
    server.route(f"/{name}.xml", body=FEED, headers={"ETag": f'"{name}-1"'}, repeat=1)
    server.route(f"/{name}.xml", status=304, headers={"ETag": f'"{name}-1"'})


def test_each_feed_is_asked_once_per_run_and_304s_settle_without_the_pipeline(server, tmp_path):
    names = ["a", "b", "c"]
    for n in names:
        serve_once_then_304(server, n)
    server.route("/gone.xml", status=410)
    config = load_config(write_config(tmp_path, server, [*names, "gone"]))

    first = run_batch(config)
    assert first.stats["sources"]["ok"] == 3
    assert first.stats["sources"]["errors"] == {
        "gone": f"source 'gone': HTTP 410 Gone from {server.url('/gone.xml')}: the feed was "
        "taken down for good; remove the source or set `enabled: false`"
    }
    assert all(len(server.requests_to(f"/{n}.xml")) == 1 for n in names)  # never twice
    items = row_count(config.outputs.duckdb)
    assert items > 0

    second = run_batch(config)
    assert second.stats["sources"]["not_modified"] == 3
    for n in names:
        asked = server.requests_to(f"/{n}.xml")
        assert len(asked) == 2 and asked[1].headers["if-none-match"] == f'"{n}-1"'
    assert row_count(config.outputs.duckdb) == items
    with Store(config.outputs.duckdb, read_only=True) as store:
        assert store.cursors()["a"]["etag"] == '"a-1"'
        assert "gone" not in store.cursors()  # failed on its first read: nothing to go on from


def test_a_run_with_nothing_new_never_loads_beam_spacy_a_feed_parser_or_arrow(server, tmp_path):
    serve_once_then_304(server, "a")
    path = write_config(tmp_path, server, ["a"])
    run_batch(load_config(path))  # the first run reads the feed
    script = (
        "import sys, multiprocessing.process as mp\n"
        "started, start = [], mp.BaseProcess.start\n"  # spaCy would load in a crew process
        "mp.BaseProcess.start = lambda p: (started.append((p.name, p._args[-1])), start(p))\n"
        "from pln.config import load_config\n"
        "from pln.pipelines.batch import run_batch\n"
        f"s = run_batch(load_config({str(path)!r}))\n"
        "print(s.stats['sources']['not_modified'],"
        " 'apache_beam' in sys.modules, 'spacy' in sys.modules, 'feedparser' in sys.modules,"
        " 'pyarrow' in sys.modules, [name for name, _ in started],"
        " [go.is_set() for _, go in started])\n"  # the crew's go: never given
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["1", "False", "False", "False", "False", "['pln-batch-crew']", "[False]"]


def exports(tmp_path: Path, feeds: str = "  - {name: blog, type: rss, path: feed.xml}\n") -> Path:
    """A config of `feeds`, the example's November X pages and its #lrnchat transcript."""
    examples = Path(__file__).parents[1] / "examples" / "data"
    for name in ("x/timeline-2026-11.jsonl", "chats/lrnchat-2026-11-19.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes((examples / name).read_bytes())
    (tmp_path / "feed.xml").write_bytes(FEED)
    path = tmp_path / "pln.yaml"
    path.write_text(
        "sources:\n" + feeds + "  - {name: x, type: twitter_v2, path: x/timeline-2026-11.jsonl}\n"
        "  - {name: chat, type: hashtag_chat, path: chats/lrnchat-2026-11-19.txt, hashtag: lrnchat}\n"
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    return path


NOTHING_NEW = (
    "import sys, multiprocessing.process as mp\n"
    "started, start = [], mp.BaseProcess.start\n"
    "mp.BaseProcess.start = lambda p: (started.append(p._args[-1]), start(p))\n"
    "from pln.config import load_config\n"
    "from pln.pipelines.batch import run_batch\n"
    "s = run_batch(load_config(sys.argv[1]))\n"
    "print(s.stats['sources']['not_modified'], 'spacy' in sys.modules,"
    " [go.is_set() for go in started], s.stats['items']['written'])\n"  # the crew's go
)


def nothing_new(config: Path) -> list[str]:
    """`NOTHING_NEW`'s words for a batch run of `config` in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", NOTHING_NEW, str(config)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_unchanged_x_pages_and_chat_exports_settle_without_the_crew_too(tmp_path):
    """Saved X pages and a chat transcript tell from their files' stats that nothing changed:
    a run where nothing did lets no worker start (it did, for them alone, loading spaCy), and
    a changed export is read by a worker as before."""
    path = exports(tmp_path)

    first = nothing_new(path)
    assert first[:3] == ["0", "False", "[True]"] and int(first[3]) > 0
    assert nothing_new(path) == ["3", "False", "[False]", "0"]  # nothing new: no worker, no spaCy
    for name in ("x/timeline-2026-11.jsonl", "chats/lrnchat-2026-11-19.txt"):
        changed = tmp_path / name  # its items once more, after a line break: read again
        changed.write_bytes(changed.read_bytes() + b"\n")
        settled, spacy, go, read = nothing_new(path)
        assert (settled, spacy, go) == ("2", "False", "[True]") and int(read) > 0, name


def test_unchanged_export_folders_and_archives_settle_without_the_crew_too(tmp_path):
    """An IRC log folder, a Zoom folder of meeting folders, a Slack export and an X archive
    tell from their files' stats that nothing changed, as a single export does; a changed,
    added or refused file is read."""
    chat = Path(__file__).parent / "fixtures" / "chat"
    slack = shutil.copytree(chat / "slack" / "export", tmp_path / "slack")
    archive = shutil.copytree(chat.parent / "twitter" / "archive", tmp_path / "archive")
    irc, zoom = tmp_path / "irc", tmp_path / "Zoom"
    irc.mkdir()
    for name in ("irssi-lrnchat.log", "weechat-lrnchat.txt"):
        shutil.copy(chat / "irc" / name, irc / name)
    meeting = zoom / "2026-11-19 10.00.00 Webinar"
    meeting.mkdir(parents=True)
    shutil.copy(chat / "zoom" / "meeting_saved_chat_2026-11-19.txt", meeting / MEETING_CHAT)
    shutil.copy(chat / "zoom" / "2026-11-21_recording_chat.txt", zoom)
    path = tmp_path / "pln.yaml"
    path.write_text(
        "sources:\n  - {name: irc, type: irc, path: irc, max_file_mb: 1}\n"
        "  - {name: zoom, type: zoom_chat, path: Zoom}\n"
        "  - {name: team, type: slack, path: slack}\n"
        "  - {name: mine, type: twitter_archive, path: archive}\n"
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )

    first = nothing_new(path)
    assert first[:3] == ["0", "False", "[True]"] and int(first[3]) > 0
    assert nothing_new(path) == ["4", "False", "[False]", "0"]  # nothing new: no worker, no spaCy
    day = next((slack / "lrn-design").glob("*.json"))
    tweets = archive / "data" / "tweets.js"
    for changed in (irc / "weechat-lrnchat.txt", meeting / MEETING_CHAT, day, tweets):
        changed.write_bytes(changed.read_bytes() + b"\n")  # read again, by a worker
        settled, spacy, go, _ = nothing_new(path)
        assert (settled, spacy, go) == ("3", "False", "[True]"), changed
        assert nothing_new(path)[:3] == ["4", "False", "[False]"]
    (irc / "huge.log").write_bytes(b"x" * (1 << 20) + b"\n")  # too big: kept out of the cursor
    for _ in range(2):  # so the folder is read, and names it again, every run
        assert nothing_new(path)[:3] == ["3", "False", "[True]"]


def test_an_export_that_changes_while_the_probe_looks_is_read_by_a_worker(tmp_path, monkeypatch):
    """Between the stat that says "unchanged" and the source's own fetch, a file may change:
    its items then go to a worker, never settled (and dropped) with the probe's status."""
    from pln.pipelines import probe
    from pln.sources.twitter import TwitterV2FileSource

    config = load_config(exports(tmp_path))
    run_batch(config)
    with Store(config.outputs.duckdb, read_only=True) as store:
        cursor = store.cursors()["x"]
    x = next(src for src in config.sources if src.name == "x")
    assert probe._settle_export(x, cursor).not_modified  # as it is: settled

    stat_then_write = TwitterV2FileSource.unchanged

    def appended_after_the_stat(self, cursor):
        said = stat_then_write(self, cursor)
        self.path.write_bytes(self.path.read_bytes() + b"\n")
        return said

    monkeypatch.setattr(TwitterV2FileSource, "unchanged", appended_after_the_stat)
    assert probe._settle_export(x, cursor) is None  # to a worker


def test_exports_are_settled_or_handed_on_at_once_never_behind_a_slow_server(server, tmp_path):
    """An export's stat is not queued behind the feeds' servers: with one fetch at a time and
    a run deadline, a changed export is read while a slow feed holds the probe."""
    server.route("/slow.xml", body=FEED, headers={"ETag": '"s-1"'}, repeat=1)
    server.route("/slow.xml", status=304, delay=5)
    feeds = f'  - {{name: slow, type: rss, url: "{server.url("/slow.xml")}"}}\n'
    path = exports(tmp_path, feeds)
    path.write_text(path.read_text() + "fetch: {concurrency: 1, deadline: 2}\n")
    run_batch(load_config(path))
    x = tmp_path / "x/timeline-2026-11.jsonl"
    x.write_bytes(x.read_bytes() + b"\n")
    second = run_batch(load_config(path))
    assert "x" not in second.stats["sources"]["errors"]
    assert second.stats["items"]["written"] > 0  # the export, read again
    assert "deadline" in second.stats["sources"]["errors"]["slow"]


@pytest.mark.slow
def test_the_crew_loads_spacy_from_the_first_changed_feed_while_the_probe_goes_on(
    server, tmp_path, monkeypatch
):
    """A daily run: one feed changed, another answers 304 slowly (a far server). The crew,
    forked before the probe and held, is let go at the changed feed, not after the probe."""
    from pln.pipelines import local_batch, probe

    server.route("/fresh.xml", body=FEED, headers={"ETag": '"f-1"'}, repeat=1)
    changed = FEED.replace(b"</title>", b" (updated)</title>", 1)
    server.route("/fresh.xml", body=changed, headers={"ETag": '"f-2"'})
    server.route("/far.xml", body=FEED, headers={"ETag": '"far-1"'}, repeat=1)
    server.route("/far.xml", status=304, headers={"ETag": '"far-1"'}, delay=1.5)
    config = load_config(write_config(tmp_path, server, ["fresh", "far"]))
    run_batch(config)

    times: dict[str, float] = {}
    release, probe_sources = local_batch.LocalBatch.release, probe.probe_sources

    def timed_release(crew):
        times.setdefault("released", time.monotonic())
        release(crew)

    def timed_probe(*args, **kwargs):
        try:
            return probe_sources(*args, **kwargs)
        finally:
            times["probed"] = time.monotonic()

    monkeypatch.setattr(local_batch.LocalBatch, "release", timed_release)
    monkeypatch.setattr(probe, "probe_sources", timed_probe)
    summary = run_batch(config)
    assert summary.stats["sources"]["ok"] == 2 and summary.stats["sources"]["not_modified"] == 1
    assert times["probed"] - times["released"] > 1.0  # let go while "far" was still answering


@pytest.mark.slow
def test_changed_feeds_are_parsed_by_worker_processes_from_the_staged_response(server, tmp_path):
    names = ["a", "b", "c", "d"]
    for n in names:
        serve_once_then_304(server, n)
    config = load_config(write_config(tmp_path, server, names))
    config = dataclasses.replace(config, runner=dataclasses.replace(config.runner, workers=2))
    summary = run_batch(config)
    assert summary.stats["sources"]["ok"] == 4
    assert all(len(server.requests_to(f"/{n}.xml")) == 1 for n in names)
    read = dict(db_rows(config.outputs.duckdb, "SELECT name, last_items FROM sources"))
    assert read == dict.fromkeys(names, 3)  # every worker parsed its feed's 3 entries
    assert not list(tmp_path.glob("out/*.staging/*"))  # staged responses are cleaned up


def small_feed(name: str) -> bytes:
    items = "".join(
        f"<item><title>Spaced repetition, part {i} at {name}</title>"
        f"<link>https://{name}.example/{i}</link><guid>https://{name}.example/{i}</guid>"
        f"<description>How {name} plans retrieval practice, week {i}.</description></item>"
        for i in range(3)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
        f"<link>https://{name}.example/</link>{items}</channel></rss>"
    ).encode()


def test_the_local_engine_takes_the_probes_responses_in_memory_up_to_its_budget(
    server, tmp_path, monkeypatch
):
    """The probe hands each changed feed's response to the local engine's workers in memory:
    staging it as a file cost more CPU than its GET here (creating a file: 0.26 ms on this
    ext4). Past the run's HELD_BYTES it stages them as files again, and the run stores the
    same either way."""
    from pln.pipelines import batch
    from pln.sources import prefetch

    names = ["a", "b", "c", "d"]
    for n in names:
        server.route(f"/{n}.xml", body=small_feed(n), headers={"ETag": f'"{n}-1"'})
    staged: list[str] = []
    stage = prefetch.stage_response
    monkeypatch.setattr(prefetch, "stage_response", lambda *a: staged.append(a[1]) or stage(*a))
    stores = []
    for budget, run in ((batch.HELD_BYTES, "held"), (len(small_feed("a")), "staged")):
        monkeypatch.setattr(batch, "HELD_BYTES", budget)
        (tmp_path / run).mkdir()
        config = load_config(write_config(tmp_path / run, server, names))
        assert run_batch(config).stats["sources"]["ok"] == 4
        stores.append(config.outputs.duckdb)
        if run == "held":
            assert staged == []
    assert len(staged) == 3  # room for one body in memory: the other three were files
    for query in (
        "SELECT id, source, title, text, url FROM items ORDER BY id",
        "SELECT item_id, topic, kept, score, reason FROM decisions ORDER BY ALL",
        "SELECT name, ok, cursor FROM sources ORDER BY name",
    ):
        held, as_files = (db_rows(db, query) for db in stores)
        assert held == as_files and held
    assert len(db_rows(stores[0], "SELECT id FROM items")) == 12
    assert all(len(server.requests_to(f"/{n}.xml")) == 2 for n in names)  # once a run
