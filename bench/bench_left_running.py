"""The compose setup left running (not a test): `pln ingest`, `pln stream` and `pln serve`, as
docker/compose.yaml runs them, for --minutes while the world around them changes.

- Blogs post: every --post-every seconds one of --feeds RSS feeds (served by a local HTTP
  server with Last-Modified, so unchanged feeds answer 304) gets a new entry, every fifth on
  the topic. Each feed keeps its newest 30 entries, as blogs do.
- The user edits the config every --edit-every minutes, in turn: adds a topic, retitles the
  first topic, removes the added topic, follows one more blog.
- Every minute the user clicks "More like this" or, the next minute, "Less like this" on the
  served feed's newest entry, and runs `pln train` halfway.
- Things go wrong, once each: the blogs' server answers 503 for a minute (at 30% of the run);
  `pln run` is started beside the stream, which must refuse with one line, while `pln sql`
  answers and a plain DuckDB client cannot open the held database for writing (40%); the
  stream is killed (SIGKILL) and started again, as a supervisor does (60%).

Every --every seconds it samples each command's process tree (resident memory, open file
descriptors, threads) and the disk (the database, its WAL, the snapshot, the feeds folder,
the ingester's state), then prints the curve, each command's CPU after the first quarter
(warming up), and each figure's median over the second quarter against its median over the
last. At the end it checks what the user relies on:

- every posted entry reached the store (the snapshot a SQL client reads);
- the served feed carries the last title and only the configured topics;
- every accepted click is a stored label.

    python bench/bench_left_running.py [--minutes 20] [--feeds 40] [--post-every 2]
                                       [--edit-every 4] [--every 30] [--workers 1] [--calm]

`--post-every 0 --edit-every 1000 --calm` leaves only the polls: every feed answering 304
every 5 s, which is what a stream does most of its life (its CPU is printed at the end).
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from xml.sax.saxutils import escape

from bench_peers import PHRASES, make_corpus
from proc_tree import stop
from stream_kit import (
    REPO,
    KafkaSettings,
    proc_status,
    start_broker,
    tree_cpu_seconds,
    tree_pids,
)

sys.path.insert(0, str(REPO / "tests"))
from feedback_kit import give_feedback  # noqa: E402
from kafka_broker import free_port  # noqa: E402

KEEP_ENTRIES = 30  # entries a blog's feed keeps
ADDED_TOPIC = "  - id: onboarding\n    title: Onboarding\n    phrases: [employee onboarding]\n"
COMMANDS = ("ingest", "stream", "serve")


@dataclass
class World:
    """The blogs, the config and what the user did, as the bench changes them."""

    folder: Path
    feeds: list[Path]
    feed_port: int
    serve_port: int
    posted: list[str] = field(default_factory=list)  # links of new entries, in order
    edits: int = 0
    title: str = "Learning"
    clicks: int = 0  # accepted feedback clicks
    train_said: str = ""

    def config_text(self) -> str:
        urls = "".join(
            f"  - {{name: blog{i:03d}, type: rss, url: {self.url(f)}, interval: 5}}\n"
            for i, f in enumerate(self.feeds)
        )
        topics = f"  - id: learning\n    title: {self.title}\n    phrases: [{', '.join(PHRASES)}]\n"
        if self.has_added_topic:
            topics += ADDED_TOPIC
        return (
            f"sources:\n{urls}topics:\n{topics}"
            f"outputs:\n  duckdb: {self.folder}/out/pln.duckdb\n"
            f"  feeds_dir: {self.folder}/out/feeds\n"
            f"  base_url: http://127.0.0.1:{self.serve_port}/feeds/\n"
        )

    def url(self, feed: Path) -> str:
        return f"http://127.0.0.1:{self.feed_port}/{feed.name}"

    def write_config(self) -> Path:
        path = self.folder / "pln.yaml"
        path.write_text(self.config_text(), encoding="utf-8")
        return path

    @property
    def has_added_topic(self) -> bool:
        return self.edits % 4 == 1

    def edit(self) -> str:
        """The next edit in turn: add a topic, retitle the first, remove the added topic,
        follow one more blog."""
        self.edits += 1
        step = self.edits % 4
        if step == 2:
            self.title = f"Learning, edit {self.edits}"
        if step == 0:
            blog = self.feeds[0].with_name(f"added{self.edits:04d}.xml")
            blog.write_text(self.feeds[0].read_text(encoding="utf-8").replace(
                "https://blog", f"https://added{self.edits}.blog"), encoding="utf-8")  # fmt: skip
            self.feeds.append(blog)
        self.write_config()
        done = ("followed blog", "added a topic", "retitled", "removed the onboarding topic")
        return f"{done[step]} ({self.title!r}, {len(self.feeds)} blogs)"

    def post(self) -> None:
        """A new entry on the next blog in turn (every fifth on the topic)."""
        n = len(self.posted)
        feed = self.feeds[n % len(self.feeds)]
        link = f"https://blog.example/new/{n}/"
        about = f"notes on {PHRASES[n % len(PHRASES)]}" if n % 5 == 0 else "a walk in the hills"
        entry = (
            f"<item><title>Post {n}: {escape(about)}</title><link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid><description>Today, {escape(about)}, '
            "with a few thoughts for the team.</description></item>"
        )
        head, _, rest = feed.read_text(encoding="utf-8").partition("<item>")
        rest = rest.rpartition("</channel>")[0]
        items = [i + "</item>" for i in ("<item>" + rest).split("</item>") if i.strip()]
        feed.write_text(
            head + entry + "".join(items[: KEEP_ENTRIES - 1]) + "</channel></rss>\n",
            encoding="utf-8",
        )
        self.posted.append(link)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--post-every", type=float, default=2.0, help="seconds between posts")
    parser.add_argument("--edit-every", type=float, default=4.0, help="minutes between edits")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--workers", type=int, default=1, help="pln stream --workers")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--engine", choices=("local", "beam"), default="local")
    parser.add_argument(
        "--calm", action="store_true", help="no clicks, no pln train, nothing going wrong"
    )
    args = parser.parse_args()

    broker = start_broker()
    tag = f"{time.time_ns():x}"
    settings = KafkaSettings(
        bootstrap=broker.bootstrap, raw_topic=f"left-raw-{tag}", curated_topic=f"left-cur-{tag}"
    )
    folder = args.keep or Path(tempfile.mkdtemp(prefix="pln-left-"))
    folder.mkdir(parents=True, exist_ok=True)
    make_corpus(folder / "blogs", args.feeds, 10)
    server = BlogServer(folder / "blogs")
    world = World(folder, sorted((folder / "blogs").glob("*.xml")), server.port, free_port())
    config = world.write_config()
    commands = start_commands(config, settings, world.serve_port, args, folder)
    procs = {name: start() for name, start in commands.items()}
    samples: list[dict] = []
    incidents: list[str] = []
    try:
        run(args, world, procs, commands, samples, incidents, server)
        checks = incidents + check(world, folder)
    finally:
        stop(procs.values(), timeout=60)
        server.close()
        broker.stop()
    report(samples, args)
    for line in checks:
        print(line)
    print(f"logs and data: {folder}")
    return 0 if all(line.startswith("ok") for line in checks) else 1


def start_commands(config: Path, settings, serve_port: int, options, folder: Path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kafka = ["--bootstrap", settings.bootstrap, "--raw-topic", settings.raw_topic]
    args = {
        "ingest": ["ingest", "-c", str(config), *kafka],
        "stream": ["stream", "-c", str(config), *kafka, "--curated-topic",
                   settings.curated_topic, "--workers", str(options.workers), "--engine", options.engine],
        "serve": ["serve", "-c", str(config), "--port", str(serve_port)],
    }  # fmt: skip

    def starter(name: str, argv: list[str]):
        return lambda: subprocess.Popen(
            [sys.executable, "-m", "pln.cli", *argv],
            stdout=(folder / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
        )

    return {name: starter(name, argv) for name, argv in args.items()}


def run(args, world: World, procs, commands, samples, incidents, server) -> None:
    start = time.monotonic()
    end = start + args.minutes * 60
    never = float("inf")
    next_sample = start
    next_post = start if args.post_every > 0 else never
    next_edit = start + args.edit_every * 60
    # --calm: nobody clicks or trains, and nothing goes wrong (only what the blogs do).
    next_click = start + 60 if not args.calm else never
    trained = args.calm
    outage = (start + args.minutes * 18, start + args.minutes * 18 + 60) if not args.calm else ()
    side_commands_at = start + args.minutes * 24 if not args.calm else 0
    kill_at = start + args.minutes * 36 if not args.calm else 0
    while time.monotonic() < end:
        now = time.monotonic()
        server.down = bool(outage) and outage[0] <= now < outage[1]
        if side_commands_at and now >= side_commands_at:
            incidents += side_commands(world.folder)
            for line in incidents:
                print(f"{(now - start) / 60:6.1f} min  {line}", flush=True)
            side_commands_at = 0
        if kill_at and now >= kill_at:
            procs["stream"].kill()
            procs["stream"].wait()
            procs["stream"] = commands["stream"]()
            print(f"{(now - start) / 60:6.1f} min  stream killed and started again", flush=True)
            kill_at = 0
        dead = [name for name, proc in procs.items() if proc.poll() is not None]
        if dead:
            raise SystemExit(f"stopped by itself: {', '.join(dead)} (see {world.folder})")
        if now >= next_post:
            world.post()
            next_post += args.post_every
        if now >= next_edit:
            print(f"{(now - start) / 60:6.1f} min  edit: {world.edit()}", flush=True)
            next_edit += args.edit_every * 60
        if now >= next_click:
            world.clicks += click_newest(world, "up" if world.clicks % 2 == 0 else "down")
            next_click += 60
        if not trained and now >= start + args.minutes * 30:
            world.train_said = train(world.folder / "pln.yaml")
            print(f"{(now - start) / 60:6.1f} min  pln train: {world.train_said}", flush=True)
            trained = True
        if now >= next_sample:
            samples.append(sample(procs, world.folder, (now - start) / 60))
            print(sample_line(samples[-1]), flush=True)
            next_sample += args.every
        time.sleep(0.05)


def side_commands(folder: Path) -> list[str]:
    """What a user or cron may do beside the running stream: `pln run` must refuse in one line,
    `pln sql` must answer (from the snapshot), a plain DuckDB client must not get write access."""
    import duckdb

    def pln(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pln.cli", *argv, "-c", str(folder / "pln.yaml")],
            capture_output=True, text=True, timeout=300, cwd=folder,
        )  # fmt: skip

    ran = pln("run")
    said = ran.stderr.strip().splitlines()
    one_line = ran.returncode != 0 and len(said) == 1 and "Traceback" not in ran.stderr
    sql = pln("sql", "SELECT count(*) AS items FROM items", "--format", "csv")
    try:
        duckdb.connect(str(folder / "out" / "pln.duckdb")).close()
        client = "WRONG: a plain DuckDB client opened the stream's database for writing"
    except duckdb.Error as exc:
        client = f"ok: a plain DuckDB client is refused ({str(exc).splitlines()[0][:70]}...)"
    return [
        ("ok" if one_line else "WRONG")
        + f": pln run beside the stream: exit {ran.returncode}, {said[-1] if said else ''!r}",
        ("ok" if sql.returncode == 0 else "WRONG")
        + f": pln sql beside the stream: exit {sql.returncode}, {' '.join(sql.stdout.split())!r}",
        client,
    ]


class BlogServer:
    """The blogs over HTTP on 127.0.0.1 (Last-Modified, so unchanged feeds answer 304), in a
    thread of this process; `down` makes every answer a 503."""

    def __init__(self, folder: Path):
        import functools
        import http.server
        import threading

        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if outer.down:
                    self.send_error(503, "down for maintenance")
                else:
                    super().do_GET()

        self.down = False
        handler = functools.partial(Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def click_newest(world: World, label: str) -> int:
    """Open the newest entry's "More like this" (`label` up) or "Less like this" (down) link
    in the served feed and press the button, as a person does; 1 when the label was accepted."""
    base = f"http://127.0.0.1:{world.serve_port}/feeds/"
    try:
        with urllib.request.urlopen(base + "learning.rss.xml", timeout=10) as response:
            feed = unescape(response.read().decode())
        link = re.search(rf'href="([^"]*/_feedback\?[^"]*label={label}[^"]*)"', feed)
        return int(link is not None and give_feedback(unescape(link.group(1)))[0] == 200)
    except OSError:
        return 0


def train(config: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pln.cli", "train", "-c", str(config)],
        capture_output=True, text=True, timeout=300, cwd=config.parent,
    )  # fmt: skip
    said = [line for line in (done.stdout + done.stderr).splitlines() if "snapshot" not in line]
    return f"exit {done.returncode}: {said[-1] if said else ''}"


def sample(procs, folder: Path, minute: float) -> dict:
    out: dict = {"minute": minute}
    for name, proc in procs.items():
        tree = tree_pids(proc.pid)
        out[f"{name} MB"] = sum(proc_status(p, "VmRSS") for p in tree) / 1024
        out[f"{name} fds"] = sum(_fds(p) for p in tree)
        out[f"{name} threads"] = sum(proc_status(p, "Threads") for p in tree)
        out[f"{name} cpu s"] = tree_cpu_seconds(proc.pid)
    db = folder / "out" / "pln.duckdb"
    out["db MB"] = _size(db) / 1e6
    out["wal MB"] = _size(db.with_name("pln.duckdb.wal")) / 1e6
    out["snapshot MB"] = _size(db.with_name("pln.read.duckdb")) / 1e6
    out["feeds MB"] = sum(_size(p) for p in (folder / "out" / "feeds").rglob("*")) / 1e6
    out["state KB"] = _size(db.with_name("ingest-state.json")) / 1e3
    return out


def sample_line(row: dict) -> str:
    parts = [f"{row['minute']:6.1f} min"]
    for name in COMMANDS:
        parts.append(
            f"{name} {row[f'{name} MB']:5.0f} MB {row[f'{name} fds']:3d} fds "
            f"{row[f'{name} threads']:3d} thr"
        )
    parts.append(f"db {row['db MB']:.1f} + wal {row['wal MB']:.1f} MB")
    return "  ".join(parts)


def report(samples: list[dict], args) -> None:
    """CPU over the last three quarters; each figure's median over the second quarter against
    its median over the last (medians: a restart's dip is no trend), and its peak."""
    if len(samples) < 8:
        return
    quarter = len(samples) // 4
    window, second, last = samples[quarter:], samples[quarter : 2 * quarter], samples[-quarter:]
    minutes = window[-1]["minute"] - window[0]["minute"]
    print(f"\nfrom minute {window[0]['minute']:.1f} to {window[-1]['minute']:.1f}:")
    for name in COMMANDS:
        cpu = [row[f"{name} cpu s"] for row in window]
        # A restarted command counts from 0 again (what its killed process used since the
        # sample before is not counted).
        used = sum(
            now - before if now >= before else now for before, now in itertools.pairwise(cpu)
        )
        print(f"  {name} CPU {100 * used / (60 * minutes):.1f}% of one core")
    print("  median of the second quarter -> median of the last quarter (peak):")
    for key in samples[-1]:
        if key == "minute" or key.endswith("cpu s"):
            continue
        early, late = (statistics.median(row[key] for row in part) for part in (second, last))
        peak = max(row[key] for row in samples)
        print(f"  {key:16s} {early:9.1f} -> {late:9.1f} ({late - early:+.1f}), peak {peak:.1f}")


def check(world: World, folder: Path) -> list[str]:
    """What the user relies on, once the last posts had time to arrive (up to 2 minutes)."""
    import duckdb

    snapshot = folder / "out" / "pln.read.duckdb"
    wanted = set(world.posted)
    deadline = time.monotonic() + 120
    stored: set[str] = set()
    while time.monotonic() < deadline:
        try:
            with duckdb.connect(str(snapshot), read_only=True) as db:
                stored = {url for (url,) in db.execute("SELECT url FROM items").fetchall()}
                labels = db.execute("SELECT count(*) FROM labels").fetchone()[0]
        except duckdb.Error:
            time.sleep(1)
            continue
        if wanted <= stored:
            break
        time.sleep(2)
    lost = sorted(wanted - stored)
    feeds = {p.name for p in (folder / "out" / "feeds").glob("*.rss.xml")}
    expected = {"learning.rss.xml"} | ({"onboarding.rss.xml"} if world.has_added_topic else set())
    served = (folder / "out" / "feeds" / "learning.rss.xml").read_text(encoding="utf-8")
    return [
        ("ok" if not lost else "LOST")
        + f": {len(wanted) - len(lost):,} of {len(wanted):,} posted entries are stored"
        + (f" (missing e.g. {lost[:3]})" if lost else ""),
        ("ok" if f"{escape(world.title)}</title>" in served else "STALE")
        + f": the served feed's title is the last edit's ({world.title!r})",
        ("ok" if feeds == expected else "WRONG") + f": topic feeds {sorted(feeds)}",
        ("ok" if labels == world.clicks else "LABELS")
        + f": {labels} labels stored for {world.clicks} accepted clicks",
    ]


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
