"""pln against a feed reader on the same 500 blogs, side by side in one run (not a test).

Generates 500 RSS 2.0 feeds x 50 entries (about 20% on learning topics), serves them from a
local HTTP server on 127.0.0.1 (a separate process) and runs, over HTTP and from files:
  - newsboat (`-x reload`, 2 reload threads or `--newsboat-threads N`, stores to its SQLite
    cache), the Debian package;
  - `pln run` end to end (fetch -> curate with one topic of 12 phrases -> DuckDB -> feeds);
then a second `pln run` over HTTP, where every feed answers 304 Not Modified, and the same
for newsboat (its third run: its second downloads every feed again, see `newsboat_again`).
It prints entries/s, wall time and peak memory for each, and pln's rate as a multiple of
newsboat's. Memory is measured in one more round after the timed ones, whose times are not
counted: the sampler takes 0.16-0.23 s of CPU during a 2.6 s `pln run` (6-9% of a core), which
slowed pln, busy on both cores, by about 0.1 s (median of 6 runs), while newsboat, busy on one,
left the sampler the other. It samples every 20 ms over the process tree (found every 100 ms),
two ways: summed RSS, which counts pages that forked workers share with their parent once per
process, and summed PSS (proportional set size: each shared page split among the processes
that share it), which is what the tree really holds. `--no-memory` skips that round.

    python bench/bench_peers.py [--feeds 500] [--entries 50] [--workers 1] [--keep DIR]
                                [--repeat N] [--before CHECKOUT] [--daily N] [--latency MS]
                                [--concurrency N] [--style plain|blog]

`--style blog` writes whole posts instead of one short paragraph an entry, as WordPress feeds
carry them: 250-1,000 words of HTML in `content:encoded` (links, emphasis, a figure, a list),
the first 55 words in `description` (124 MB for 500 x 50 against 19 MB).

`--daily N` adds a run of each over HTTP, after N feeds got one new entry each (a reader's
daily run), and `--latency MS` makes the server wait before every answer, as servers across
the internet do (newsboat's runs wait too).

`--repeat N` runs the whole round N times on the same corpus and server and prints, beside each
round's table, the median and range of each ratio over the rounds: this machine's speed drifts
(newsboat alone took 11 to 27 s on the same files in one day), so one round says little.

Targets on a 2-core machine: pln >= 3x newsboat over HTTP and from files, the all-304 run
<= 1.5 s, peak memory <= 600 MB.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

PHRASES = [
    "spaced repetition",
    "retrieval practice",
    "forgetting curve",
    "microlearning",
    "learning in the flow of work",
    "employee onboarding",
    "instructional design",
    "learning analytics",
    "xAPI statement",
    "cognitive load",
    "deliberate practice",
    "peer learning",
]
_PROSE = (
    "team meeting coffee design course feedback project slides workshop video manager quarter "
    "budget conference keynote community podcast webinar story question answer goal skill coach "
    "garden recipe travel weekend camera bicycle music football election weather market city "
    "release server database kernel compiler museum novel painting harbour mountain river"
)
WORDS = _PROSE.split()

CPU_SECONDS: list[float] = []  # CPU time (user + sys) of each timed command, in order
PSS_PEAKS: list[int] = []  # peak summed PSS (bytes) of each timed command, in order
MEMORY: list[tuple] = []  # the memory round's pln rows (for the peak RSS)
MEMORY_PSS: list[int] = []  # peak PSS of each pln run of this checkout in the memory round
WATCH_MEMORY = [False]  # sample memory in the commands timed now (the memory round)

SERVER = r"""
import functools, http.server, sys, time
LATENCY = float(sys.argv[2])
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
class Quiet(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # As web servers do: without it, every request after the first on a kept-alive connection
    # stalls about 40 ms (Nagle's algorithm against the client's delayed ACK), which cost
    # newsboat's 2 connections 9 s of its 13.5 s here and pln's 16 almost nothing.
    disable_nagle_algorithm = True
    def log_message(self, *args): pass
    def do_GET(self):
        time.sleep(LATENCY)  # a far server: the round trip before any answer
        super().do_GET()
handler = functools.partial(Quiet, directory=sys.argv[1])
with Server(("127.0.0.1", 0), handler) as httpd:
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()
"""


def entry_text(rng: random.Random, on_topic: bool) -> str:
    words = rng.choices(WORDS, k=rng.randint(40, 90))
    if on_topic:
        words.insert(rng.randrange(len(words)), rng.choice(PHRASES))
    return " ".join(words).capitalize() + "."


def make_corpus(folder: Path, feeds: int, entries: int, seed: int = 7, style: str = "plain") -> int:
    """Write `feeds` RSS files of `entries` items; returns the number of entries. `style`
    "plain": one paragraph of 40-90 words an entry, in `description`; "blog": as WordPress
    writes its feeds, a whole post of 250-1,000 words in `content:encoded` (paragraphs with
    links, emphasis, a figure, a list, a heading, a quote) and its first 55 words in
    `description`, with author and categories."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    folder.mkdir(parents=True, exist_ok=True)
    blog = style == "blog"
    for f in range(feeds):
        items = []
        for e in range(entries):
            on_topic = rng.random() < 0.2
            title = " ".join(rng.choices(WORDS, k=6)).title()
            if on_topic:
                title += f": {rng.choice(PHRASES)}"
            when = start - timedelta(hours=f * 0.37 + e * 7)
            link = f"https://blog{f}.example/{e}/"
            if blog:
                items.append(blog_item(rng, f, e, title, link, when, on_topic))
                continue
            items.append(
                f"<item><title>{escape(title)}</title><link>{link}</link>"
                f'<guid isPermaLink="true">{link}</guid>'
                f"<pubDate>{when:%a, %d %b %Y %H:%M:%S +0000}</pubDate>"
                f"<description>&lt;p&gt;{escape(entry_text(rng, on_topic))}&lt;/p&gt;"
                f"</description></item>"
            )
        spaces = (
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
            if blog
            else ""
        )
        (folder / f"feed{f:04d}.xml").write_text(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"{spaces}><channel>'
            f"<title>Blog {f}</title><link>https://blog{f}.example/</link>"
            f"<description>Blog number {f}</description>{''.join(items)}</channel></rss>\n",
            encoding="utf-8",
        )
    return feeds * entries


def blog_item(
    rng: random.Random, f: int, e: int, title: str, link: str, when: datetime, on_topic: bool
) -> str:
    """One WordPress-style RSS item: the post's HTML in content:encoded, an excerpt."""
    site = f"https://blog{f}.example/"
    paragraphs = [_sentences(rng, site) for _ in range(rng.randint(3, 9))]
    if on_topic:
        at = rng.randrange(len(paragraphs))
        paragraphs[at] = paragraphs[at].replace(" ", f" {rng.choice(PHRASES)} ", 1)
    body = [f"<p>{p}</p>" for p in paragraphs]
    if rng.random() < 0.6:
        body.insert(
            1,
            f'<figure class="wp-block-image size-large"><img loading="lazy" width="1024" '
            f'height="576" src="{site}wp-content/uploads/2026/11/img{e}.jpg" alt="" '
            f'class="wp-image-{e}" srcset="{site}wp-content/uploads/2026/11/img{e}-300x169.jpg'
            f' 300w" sizes="(max-width: 1024px) 100vw, 1024px" /></figure>',
        )
    if rng.random() < 0.4:
        listed = "".join(f"<li>{' '.join(rng.choices(WORDS, k=5))}</li>" for _ in range(4))
        body.insert(len(body) // 2, f"<ul>{listed}</ul>")
    if rng.random() < 0.3:
        body.insert(2, f"<h2>{' '.join(rng.choices(WORDS, k=4)).title()}</h2>")
    if rng.random() < 0.2:
        quote = " ".join(rng.choices(WORDS, k=18)).capitalize()
        body.insert(-1, f'<blockquote class="wp-block-quote"><p>{quote}.</p></blockquote>')
    excerpt = " ".join(re.sub(r"<[^>]+>", "", " ".join(paragraphs)).split()[:55])
    categories = "".join(
        f"<category><![CDATA[{c.title()}]]></category>" for c in rng.sample(WORDS, 2)
    )
    return (
        f"<item><title>{escape(title)}</title><link>{link}</link>"
        f"<dc:creator><![CDATA[Author {f % 7}]]></dc:creator>"
        f"<pubDate>{when:%a, %d %b %Y %H:%M:%S +0000}</pubDate>{categories}"
        f'<guid isPermaLink="false">{site}?p={e}</guid>'
        f"<description><![CDATA[<p>{excerpt} [&#8230;]</p>\n<p>The post "
        f'<a href="{link}">{escape(title)}</a> appeared first on <a href="{site}">Blog {f}</a>.'
        f"</p>]]></description>"
        f"<content:encoded><![CDATA[{chr(10).join(body)}]]></content:encoded></item>"
    )


def _sentences(rng: random.Random, site: str) -> str:
    """A paragraph of 3-6 sentences, some words linked or emphasised."""
    out = []
    for _ in range(rng.randint(3, 6)):
        words = rng.choices(WORDS, k=rng.randint(8, 22))
        for i, word in enumerate(words):
            roll = rng.random()
            if roll < 0.02:
                words[i] = f'<a href="{site}{word}/">{word}</a>'
            elif roll < 0.03:
                words[i] = f"<strong>{word}</strong>"
            elif roll < 0.04:
                words[i] = f"<em>{word}</em>"
        out.append(" ".join(words).capitalize() + rng.choice(".....?!"))
    return " ".join(out)


class TreeMemory:
    """Peak summed RSS and PSS of a process and all its descendants, sampled from /proc."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.peak_pss = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _sample(self):
        page = os.sysconf("SC_PAGE_SIZE")
        tree: set[int] = {self.pid}
        ticks = 0
        while not self._stop.wait(0.02):
            # Finding new children reads every process's stat (this kernel has no
            # /proc/PID/task/TID/children): every 5th tick only, or the sampler itself takes
            # a fifth of a core from the processes it measures.
            if ticks % 5 == 0:
                tree = _tree(self.pid)
            ticks += 1
            self.peak = max(self.peak, sum(_rss(pid, page) for pid in tree))
            if ticks % 10 == 1:  # reading smaps costs the kernel a page-table walk: less often
                self.peak_pss = max(self.peak_pss, sum(map(_pss, tree)))


def _tree(root: int) -> set[int]:
    """root and its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return tree


def _rss(pid: int, page: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
    except OSError:
        return 0


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, int]:
    """Run a command; (wall seconds, peak tree RSS in bytes). Fails loudly if it fails."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    memory = TreeMemory(proc.pid)
    with memory if WATCH_MEMORY[0] else nullcontext():
        out, _ = proc.communicate()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU_SECONDS.append(cpu)
    if proc.returncode not in (0,):
        sys.exit(f"{' '.join(cmd[:3])}... exited {proc.returncode}:\n{out[-3000:]}")
    PSS_PEAKS.append(memory.peak_pss)
    return seconds, memory.peak


def newsboat_run(
    work: Path, urls: list[str], fresh: bool = True, threads: int = 2
) -> tuple[float, int, int]:
    """(seconds, peak RSS, entries in its cache) of `newsboat -x reload` with `threads` reload
    threads; `fresh`: from an empty cache, else on the cache of the run before."""
    home = work / "home"
    if fresh:
        shutil.rmtree(home, ignore_errors=True)
        (home / ".newsboat").mkdir(parents=True)
        (home / ".newsboat" / "urls").write_text("\n".join(urls) + "\n")
        (home / ".newsboat" / "config").write_text(
            f"reload-threads {threads}\nshow-read-feeds yes\n"
        )
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": "", "XDG_DATA_HOME": ""}
    cache = home / ".newsboat" / "cache.db"
    seconds, peak = timed(["newsboat", "-x", "reload", "-c", str(cache)], env=env)
    count = subprocess.run(
        ["sqlite3", str(cache), "SELECT count(*) FROM rss_item"], capture_output=True, text=True
    )
    stored = int(count.stdout.strip()) if count.returncode == 0 else -1
    return seconds, peak, stored


def pln_config(
    work: Path,
    sources: list[str],
    kind: str,
    workers: int,
    fetch_settings: bool = True,
    engine: str = "local",
    concurrency: int = 16,
) -> Path:
    lines = ["sources:"]
    for i, where in enumerate(sources):
        lines.append(f'  - {{name: blog{i:04d}, type: rss, {kind}: "{where}"}}')
    phrases = ", ".join(PHRASES)
    lines += [
        "topics:",
        f"  - {{id: learning, title: Learning, phrases: [{phrases}]}}",
        f"outputs: {{duckdb: {work}/out/pln.duckdb, feeds_dir: {work}/out/feeds}}",
        # A checkout from before `runner.engine` would refuse it.
        f"runner: {{workers: {workers}" + (f", engine: {engine}}}" if fetch_settings else "}"),
        # All 500 feeds sit on one local server here, while real blogs sit on many hosts:
        # lift the per-host limit to the pool size (newsboat has no per-host limit either).
        f"fetch: {{concurrency: {concurrency}, per_host: {concurrency}}}" if fetch_settings else "",
    ]
    path = work / "pln.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def pln_run(work: Path, config: Path, fresh: bool = True, src: Path | None = None):
    """(seconds, peak RSS) of `pln run`; `src` runs another checkout of pln (for before/after)."""
    if fresh:
        shutil.rmtree(work / "out", ignore_errors=True)
    env = None
    if src is not None:
        layout = work / "pln-src"
        if (layout / "pln" / "sources").resolve() != (src / "sources").resolve():
            compiled(package_tree(src, layout))  # once: its bytecode stays for every run
        env = {**os.environ, "PYTHONPATH": str(layout)}
    cmd = [sys.executable, "-m", "pln.cli", "run", "-q", "-c", str(config)]
    return timed(cmd, env=env, cwd=work)


PACKAGES = ("sources", "filters", "sinks", "pipelines")  # pln.sources = sources/, ...


def package_tree(src: Path, into: Path) -> Path:
    """The installed layout (pln, pln.sources = sources/, ...) of a checkout, as symlinks."""
    shutil.rmtree(into, ignore_errors=True)
    (into / "pln").mkdir(parents=True)
    for entry in (src / "pln").iterdir():
        (into / "pln" / entry.name).symlink_to(entry)
    for sub in PACKAGES:
        (into / "pln" / sub).symlink_to(src / sub)
    return into


def compiled(layout: Path | None = None) -> None:
    """Write the bytecode of pln's modules, as installing a package does: of the checkout
    laid out in `layout`, or of the pln this Python imports. Where PYTHONDONTWRITEBYTECODE is
    set, every run would otherwise compile each module edited since its bytecode was written
    (a checkout's every module): 0.1-0.2 s of Python's compiler, timed as pln's."""
    if layout is None:  # an editable install maps pln.sources to sources/ and so on
        names = ["pln", *(f"pln.{sub}" for sub in PACKAGES)]
        folders = [Path(importlib.util.find_spec(n).submodule_search_locations[0]) for n in names]
    else:  # compileall does not follow symlinked folders: each package is named itself
        folders = [layout / "pln", *(layout / "pln" / sub for sub in PACKAGES)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *map(str, folders)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start_server(folder: Path, latency: float = 0.0) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(folder), str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    port = int(proc.stdout.readline())
    return proc, port


def report(rows: list[tuple[str, str, float, int, int]]) -> None:
    """Wall time and entries/s, plus CPU seconds: on a shared machine CPU time is the steadier
    measure, and entries per CPU second says what a dedicated core would do."""
    print(
        f"\n{'system':<32}{'mode':<7}{'seconds':>8}{'entries/s':>10}"
        f"{'cpu s':>7}{'per cpu s':>10}{'RSS MB':>8}{'PSS MB':>8}"
    )
    for (system, mode, seconds, entries, peak), cpu, pss in zip(
        rows, CPU_SECONDS, PSS_PEAKS, strict=True
    ):
        rate = entries / seconds if entries else 0
        per_cpu = entries / cpu if entries and cpu else 0
        rss_mb, pss_mb = (f"{peak / 1e6:>8.0f}", f"{pss / 1e6:>8.0f}") if peak else ("-", "-")
        print(
            f"{system:<32}{mode:<7}{seconds:>8.2f}{rate:>10,.0f}"
            f"{cpu:>7.2f}{per_cpu:>10,.0f}{rss_mb:>8}{pss_mb:>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument(
        "--style",
        choices=("plain", "blog"),
        default="plain",
        help="plain: one short paragraph an entry; blog: whole WordPress-style posts",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--engine", choices=("local", "beam"), default="local")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--skip-newsboat", action="store_true")
    parser.add_argument(
        "--newsboat-threads",
        type=int,
        default=2,
        metavar="N",
        help="newsboat's reload-threads (default 2, one per core; newsboat's own default is 1)",
    )
    parser.add_argument(
        "--before", type=Path, help="also run pln from this checkout (e.g. a worktree of main)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds to run (default 1)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="pln's fetch.concurrency (and per_host: one local server); default 16",
    )
    parser.add_argument(
        "--daily",
        type=int,
        default=0,
        metavar="N",
        help="after the all-304 run, give N feeds a new entry and run pln once more (HTTP)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="the server waits this long before every answer, as a far server would",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="no memory round after the timed rounds"
    )
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="pln-peers-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "feeds"
    shutil.rmtree(corpus, ignore_errors=True)
    total = make_corpus(corpus, args.feeds, args.entries, style=args.style)
    files = sorted(corpus.glob("*.xml"))
    print(f"corpus: {len(files)} feeds, {total:,} entries in {corpus}")
    has_newsboat = shutil.which("newsboat") and not args.skip_newsboat
    if not has_newsboat:
        print("newsboat not found (apt-get install newsboat): pln only")

    compiled()
    server, port = start_server(corpus, args.latency / 1000)
    rounds: list[dict[tuple[str, str], float]] = []
    try:
        urls = [f"http://127.0.0.1:{port}/{f.name}" for f in files]
        for number in range(args.repeat):
            if args.repeat > 1:
                print(f"round {number + 1} of {args.repeat}", flush=True)
            rows: list[tuple[str, str, float, int, int]] = []
            rounds.append(run_round(args, work, urls, files, total, has_newsboat, rows, number))
            report(rows)
            del CPU_SECONDS[:], PSS_PEAKS[:]  # per round, as the rows
        if not args.no_memory:
            print("memory round (sampled; its times are not in the ratios below)", flush=True)
            WATCH_MEMORY[0] = True
            rows = []
            run_round(args, work, urls, files, total, has_newsboat, rows, 0)
            report(rows)
            MEMORY.extend(r for r in rows if r[0].startswith("pln"))
    finally:
        server.terminate()
        server.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    for mode in ("http", "files"):
        if ("newsboat", mode) in rounds[0]:
            for tag in ("", " before"):
                if (f"pln{tag}", mode) in rounds[0]:
                    ratios = [r[("newsboat", mode)] / r[(f"pln{tag}", mode)] for r in rounds]
                    name = f"pln{tag} / newsboat entries/s ({mode})"
                    print(f"{name}: {spread(ratios, 'x')}; target >= 3x")
    for tag in ("", " before"):
        for key, name, target in (
            ("304", "all-304 second run", "; target <= 1.5 s"),
            ("daily", f"{args.daily} feeds changed", ""),
        ):
            if (f"pln{key}{tag}", "http") not in rounds[0]:
                continue
            seconds = [r[(f"pln{key}{tag}", "http")] for r in rounds]
            line = f"{name}{tag}: {spread(seconds, ' s')}{target}"
            if (f"newsboat{key}", "http") in rounds[0]:
                theirs = [r[(f"newsboat{key}", "http")] for r in rounds]
                ratios = [t / s for t, s in zip(theirs, seconds, strict=True)]
                line += f"; newsboat {spread(theirs, ' s')}, pln {spread(ratios, 'x')} as fast"
            print(line)
    if MEMORY:
        peak = max(r[4] for r in MEMORY if " before" not in r[0])
        pss = max(MEMORY_PSS)
        print(
            f"pln peak memory: PSS {pss / 1e6:.0f} MB, RSS summed {peak / 1e6:.0f} MB "
            "(target <= 600 MB)"
        )


def run_round(args, work: Path, urls, files, total: int, has_newsboat, rows, number: int) -> dict:
    """One round (`number`, from 0): newsboat and pln (and the checkout before) over HTTP and
    from files, side by side; appends table rows and returns {(system, mode): seconds}. The
    checkout before runs first in even rounds and after pln in odd ones, so neither always
    follows newsboat."""
    results: dict[tuple[str, str], float] = {}
    for mode, where in (("http", urls), ("files", [str(f) for f in files])):
        if has_newsboat:
            nb_where = where if mode == "http" else [f"file://{w}" for w in where]
            seconds, peak, stored = newsboat_run(work, nb_where, threads=args.newsboat_threads)
            if stored not in (-1, total):
                print(f"note: newsboat stored {stored:,} of {total:,} entries ({mode})")
            rows.append(("newsboat -x reload", mode, seconds, total, peak))
            results[("newsboat", mode)] = seconds
            if mode == "http":
                newsboat_again(args, work, nb_where, files, rows, results)
        kind = "url" if mode == "http" else "path"
        trees = [("before", args.before), ("", None)]
        for label, src in trees if number % 2 == 0 else trees[::-1]:
            if label and src is None:
                continue
            # A checkout from before the local engine (and the `fetch:` settings) would
            # refuse them; a later one runs with the same settings as this one.
            modern = src is None or (src / "pipelines" / "local_batch.py").exists()
            config = pln_config(
                work,
                where,
                kind,
                args.workers,
                fetch_settings=modern,
                engine=args.engine,
                concurrency=args.concurrency,
            )
            tag = f" {label}" if label else ""
            seconds, peak = pln_run(work, config, src=src)
            engine = args.engine if modern else "Beam"
            name = f"pln run{tag} ({engine}, workers {args.workers})"
            rows.append((name, mode, seconds, total, peak))
            results[(f"pln{tag}", mode)] = seconds
            if not label and WATCH_MEMORY[0]:
                MEMORY_PSS.append(PSS_PEAKS[-1])
            if mode == "http":
                seconds, peak = pln_run(work, config, fresh=False, src=src)
                rows.append((f"pln run{tag}, all 304", mode, seconds, 0, peak))
                results[(f"pln304{tag}", mode)] = seconds
                if args.daily:
                    with new_entries(files, args.daily):
                        seconds, peak = pln_run(work, config, fresh=False, src=src)
                    rows.append((f"pln run{tag}, {args.daily} changed", mode, seconds, 0, peak))
                    results[(f"plndaily{tag}", mode)] = seconds
    return results


def newsboat_again(args, work: Path, urls: list[str], files: list[Path], rows, results) -> None:
    """newsboat's everyday runs on its cache, as pln's: every feed unchanged, then (--daily)
    N feeds with a new entry. On its first run newsboat 2.21 saves a feed's Last-Modified
    before the feed is in its cache, so the value is lost (its debug log shows the UPDATE, and
    "lastmodified = 0" on the next run; newsboat/newsboat#2734, fixed after 2.35): its second
    run downloads every feed again, and its third is the first to get 304s. Both are timed."""
    seconds, peak, _ = newsboat_run(work, urls, fresh=False)
    rows.append(("newsboat, 2nd run (all again)", "http", seconds, 0, peak))
    seconds, peak, _ = newsboat_run(work, urls, fresh=False)
    rows.append(("newsboat, all 304", "http", seconds, 0, peak))
    results[("newsboat304", "http")] = seconds
    if args.daily:
        with new_entries(files, args.daily):
            seconds, peak, _ = newsboat_run(work, urls, fresh=False)
        rows.append((f"newsboat, {args.daily} changed", "http", seconds, 0, peak))
        results[("newsboatdaily", "http")] = seconds


@contextmanager
def new_entries(files: list[Path], changed: int):
    """A day later: `changed` of the feeds (spread over the corpus) have one new entry; the
    files are put back afterwards."""
    time.sleep(1.1)  # Last-Modified has whole seconds: the change must show in it
    chosen = files[:: max(1, len(files) // changed)][:changed]
    saved = {f: f.read_bytes() for f in chosen}
    stamp = time.time_ns()
    for n, f in enumerate(chosen):
        link = f"https://new.example/{stamp}/{n}/"
        entry = (
            f"<item><title>New post {n}: spaced repetition at work</title><link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid><description>Fresh notes on spaced '
            "repetition for employee onboarding.</description></item>"
        )
        f.write_bytes(saved[f].replace(b"<item>", entry.encode() + b"<item>", 1))
    try:
        yield
    finally:
        for f, data in saved.items():
            f.write_bytes(data)


def spread(values: list[float], unit: str) -> str:
    """ "2.31x" for one value; "2.31x (2.10-2.60x over 3 rounds)" for several: the median first."""
    text = f"{statistics.median(values):.2f}{unit}"
    if len(values) > 1:
        low, high = min(values), max(values)
        text += f" median, {low:.2f}-{high:.2f}{unit} over {len(values)} rounds"
    return text


if __name__ == "__main__":
    main()
