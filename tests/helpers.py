"""Small helpers the test modules share: sources built as `pln run` builds them, items,
results keyed for asserts, requests taken apart, a hostile feed, and read-only store queries.
Fixtures live in conftest.py; see docs/testing.md for the whole kit."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from pln.config import SourceConfig
from pln.errors import PlnError
from pln.record import Item
from pln.sinks.store import Label, Store
from pln.sources.registry import build_source


def source_config(type_name: str, base_dir: Path, name: str = "", **options) -> SourceConfig:
    """The config of one source as `pln.yaml` would give it (its first entry); `name` defaults
    to the type; relative paths in `options` resolve against `base_dir`."""
    return SourceConfig(name or type_name, type_name, options, base_dir, "pln.yaml", "sources[0]")


def make_source(type_name: str, base_dir: Path, name: str = "", **options):
    """A real source of `type_name` built through the registry, as `pln run` builds it."""
    return build_source(source_config(type_name, base_dir, name, **options))


def chat_source(type_name: str, path: Path, base_dir: Path | None = None, **options):
    """A chat source named "chat" reading `path` (relative paths resolve against `base_dir`,
    by default the file's folder)."""
    return make_source(type_name, base_dir or path.parent, "chat", path=str(path), **options)


def article(native_id: str, source: str = "blog", **fields) -> Item:
    """An RSS article from `source`; `fields` as for Item.create (title, text, url, ...)."""
    fields.setdefault("kind", "article")
    fields.setdefault("platform", "rss")
    return Item.create(source=source, native_id=native_id, **fields)


def chat_thread(native_id: str, title: str, participants: tuple[str, ...], **fields) -> Item:
    """A hashtag-chat question thread from #lrnchat, asked by its host; `fields` as for
    Item.create (text, published_at, ...)."""
    fields.setdefault("source", "lrnchat")
    fields.setdefault("author", "lrnchat")
    return Item.create(
        platform="chat",
        kind="chat_thread",
        native_id=native_id,
        title=title,
        participants=participants,
        **fields,
    )


def rss_entry(n: int, title: str, text: str = "", host: str = "blog.example") -> str:
    """An RSS 2.0 item of post `n` on `host`, its guid and link the post's URL."""
    return (
        f"<item><title>{title}</title><guid>https://{host}/p/{n}</guid>"
        f"<link>https://{host}/p/{n}</link><description>{text or title}</description>"
        f"<pubDate>Mon, 0{n} Nov 2026 10:00:00 +0000</pubDate></item>"
    )


def rss_feed(*entries: str) -> str:
    """An RSS 2.0 document of these items (`rss_entry`)."""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>'
        f"<link>https://blog.example/</link>{''.join(entries)}</channel></rss>"
    )


def jsonl_rows(path: Path) -> list[dict]:
    """The records of a JSON Lines fixture (blank lines skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def fixture_item(row: dict, **fields) -> Item:
    """A labelled fixture row (id, text; source, title, author, hashtags, lang when given) as
    the post it stands for; `fields` add to or override what the row says."""
    values = {
        "source": row.get("source", "blogs"),
        "title": row.get("title", ""),
        "text": row["text"],
        "author": row.get("author", ""),
        "hashtags": row.get("hashtags", ()),
        "lang": row.get("lang", ""),
        **fields,
    }
    return Item.create(platform="fixture", kind="post", native_id=row["id"], **values)


def by_native_id(items) -> dict[str, Item]:
    return {item.native_id: item for item in items}


def by_title(items) -> dict[str, Item]:
    return {item.title: item for item in items}


def query_of(request) -> dict[str, str]:
    """The query parameters a recorded request was sent with."""
    return dict(parse_qsl(urlsplit(request.path).query))


def billion_laughs(separator: str = " ") -> bytes:
    """An RSS feed whose one item would expand to a billion `lol`s through nested entities;
    `separator` goes between the declarations (some parsers read a one-line DTD differently)."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    doctype = f"<!DOCTYPE rss [{separator}{separator.join(entities)}{separator}]>"
    return (
        f'<?xml version="1.0"?>{separator}{doctype}'
        "<rss version='2.0'><channel><title>t</title>"
        "<item><title>Spacing &lol9;</title><link>https://a.example/1</link>"
        "<description>&lol9;</description></item></channel></rss>"
    ).encode()


def db_rows(db: Path, query: str) -> list[tuple]:
    """`query` on the store, read-only, retrying while a writer (a stream) holds the file;
    no rows before the store exists."""
    if not db.exists():
        return []
    for _ in range(100):
        try:
            with Store(db, read_only=True) as store:
                return store.sql(query)[1]
        except PlnError as exc:
            if "being written" not in str(exc) and "not a PLN" not in str(exc):
                raise
            time.sleep(0.05)
    raise AssertionError(f"{db} stayed locked")


def hold_database(db: Path) -> subprocess.Popen:
    """Another process that holds `db` open for writing (as a plain DuckDB client would)
    until its stdin is closed; returned once it holds it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "ready"
    return holder


def row_count(db: Path, query: str = "SELECT count(*) FROM items") -> int:
    """The one number `query` returns (0 before the store exists)."""
    rows = db_rows(db, query)
    return rows[0][0] if rows else 0


def stored_labels(db: Path) -> list[Label]:
    """Every label a person gave, as the store holds them."""
    with Store(db, read_only=True) as store:
        return store.labels()


def child_pids(pid: int) -> list[int]:
    """The running (not zombie) child processes of pid, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def cmdline(pid: int) -> str:
    """pid's command line, its arguments joined by spaces ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendant_pids(pid: int) -> list[int]:
    """The running child processes of pid, their children, and so on."""
    found, todo = [], [pid]
    while todo:
        children = child_pids(todo.pop())
        found += children
        todo += children
    return found


def is_running(pid: int) -> bool:
    """pid exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
