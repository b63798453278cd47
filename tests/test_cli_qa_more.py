"""More CLI findings of a QA pass, run as a user runs them (real CLI, real DuckDB files): an OPML
import skips the outlines it cannot use instead of refusing the file; the `items` column of
`pln sources` counts the items stored, not deliveries; a directory, missing or unreadable file
given to `pln label --csv` or `pln topics test --file` is a user mistake (exit 2, one line)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pln.sinks.store import Store

CONFIG = """sources:
  - {name: loop, type: rss, url: "https://loop.example/feed/"}
topics:
  - {id: spaced, phrases: [spaced practice]}
outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}
"""


def pln(*argv: str, cwd: Path, user: int | None = None) -> subprocess.CompletedProcess:
    """`pln ARGV` in a process of its own; as user id `user` (root drops its power) if given."""
    command = [sys.executable, "-m", "pln.cli", *argv]
    if user is not None and os.geteuid() == 0:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.rstrip("\n")


def opml(*outlines: str) -> str:
    return f'<opml version="2.0"><body>{"".join(outlines)}</body></opml>'


# -- 13. one bad outline no longer blocks an OPML import ---------------------------------------

MIXED = opml(
    '<outline text="Folder">',
    '<outline text="Blog A" xmlUrl="https://a.example/feed"/>',
    '<outline text="FTP" xmlUrl="ftp://x/feed"/>',
    '<outline text="Blog A again" xmlUrl="https://a.example/feed"/>',
    "</outline>",
    '<outline text="Loop" xmlUrl="https://loop.example/feed/"/>',
    '<outline text="Bookmark" type="link" url="https://b.example/"/>',
    '<outline text="Blog B" xmlUrl="https://b.example/rss"/>',
)


def subscribed_urls(folder: Path) -> list[str]:
    result = pln("validate", "-c", "pln.yaml", cwd=folder)
    assert result.returncode == 0, result.stderr
    text = (folder / "subscriptions.yaml").read_text()
    return [line.split("url: ", 1)[1] for line in text.splitlines() if "url: " in line]


def test_an_opml_import_keeps_the_good_outlines_and_names_the_skipped(tmp_path):
    (tmp_path / "pln.yaml").write_text(CONFIG)
    (tmp_path / "good.opml").write_text(MIXED)
    result = pln("sources", "import", "good.opml", "-c", "pln.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "imported 2 feeds from good.opml into subscriptions.yaml; skipped 1 already subscribed, "
        "1 listed twice in the file, 1 not http(s), 1 with no xmlUrl\n"
    )
    assert result.stderr.splitlines() == [
        "pln: warning: good.opml: skipped 1 outline whose xmlUrl is not http(s): "
        "'FTP' (ftp://x/feed)",
        "pln: warning: good.opml: skipped 1 outline with no xmlUrl: 'Bookmark'",
    ]
    assert subscribed_urls(tmp_path) == ["https://a.example/feed", "https://b.example/rss"]

    again = pln("sources", "import", "good.opml", "-c", "pln.yaml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("nothing added from good.opml: no new feed in it; ")
    assert "4 already subscribed" in again.stdout
    assert subscribed_urls(tmp_path) == ["https://a.example/feed", "https://b.example/rss"]


def test_a_warning_names_the_first_few_outlines_and_counts_the_rest(tmp_path):
    (tmp_path / "pln.yaml").write_text(CONFIG)
    gopher = [f'<outline text="Old {n}" xmlUrl="gopher://old.example/{n}"/>' for n in range(5)]
    (tmp_path / "old.opml").write_text(opml(*gopher, '<outline xmlUrl="https://a.example/"/>'))
    result = pln("sources", "import", "old.opml", "-c", "pln.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "pln: warning: old.opml: skipped 5 outlines whose xmlUrl is not http(s): "
        "'Old 0' (gopher://old.example/0), 'Old 1' (gopher://old.example/1), "
        "'Old 2' (gopher://old.example/2) and 2 more\n"
    )
    assert subscribed_urls(tmp_path) == ["https://a.example/"]


@pytest.mark.parametrize(
    ("outlines", "problem"),
    [
        (
            ['<outline text="FTP" xmlUrl="ftp://x/feed"/>'],
            "outline 'FTP' has xmlUrl 'ftp://x/feed', which is not an http(s) URL",
        ),
        (
            ['<outline text="FTP" xmlUrl="ftp://x/feed"/>', '<outline text="Notes"/>'],
            "2 outlines, none with an http(s) xmlUrl; first: outline 'FTP' has xmlUrl "
            "'ftp://x/feed', which is not an http(s) URL",
        ),
        ([], "the OPML lists no outline"),
    ],
    ids=["one not http", "none usable", "empty"],
)
def test_an_opml_with_no_usable_feed_is_a_user_mistake_that_changes_nothing(
    tmp_path, outlines, problem
):
    (tmp_path / "pln.yaml").write_text(CONFIG)
    (tmp_path / "bad.opml").write_text(opml(*outlines))
    result = pln("sources", "import", "bad.opml", "-c", "pln.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line_error(result) == f"pln: error: bad.opml: no feed to import: {problem}"
    assert (tmp_path / "pln.yaml").read_text() == CONFIG
    assert not (tmp_path / "subscriptions.yaml").exists()


@pytest.mark.parametrize(
    ("stale", "problem"),
    [
        ("- {name: [\n", "line 2: invalid YAML: did not find expected node content"),
        ("a: 1\n", "must be a list of source entries"),
    ],
)
def test_an_import_onto_a_broken_subscriptions_file_changes_no_file(tmp_path, stale, problem):
    (tmp_path / "pln.yaml").write_text(CONFIG)
    (tmp_path / "subscriptions.yaml").write_text(stale)
    (tmp_path / "good.opml").write_text(MIXED)
    result = pln("sources", "import", "good.opml", "-c", "pln.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    target = tmp_path / "subscriptions.yaml"
    assert one_line_error(result) == f"pln: error: {target}: {problem}"
    assert (tmp_path / "pln.yaml").read_text() == CONFIG
    assert target.read_text() == stale


# -- 15. `pln sources` items: what the store holds, not what was delivered ----------------------


def feed(title: str, posts: int) -> str:
    items = "".join(
        f"<item><title>Post {n}</title><link>https://blog.example/{n}</link>"
        f"<guid>https://blog.example/{n}</guid><description>Spaced practice {n}.</description>"
        "</item>"
        for n in range(posts)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}</channel></rss>'


def items_column(folder: Path) -> dict[str, int]:
    result = pln("sources", "-c", "pln.yaml", cwd=folder)
    assert result.returncode == 0, result.stderr
    header, _, *rows = result.stdout.splitlines()[:-1]  # the last line counts the rows
    at = header.split().index("items")
    return {row.split()[0]: int(row.split()[at]) for row in rows}


def test_sources_items_are_the_items_stored_from_each_source(tmp_path):
    (tmp_path / "blog.xml").write_text(feed("Blog", 4))
    (tmp_path / "mirror.xml").write_text(feed("Mirror", 2))  # the same first two posts
    (tmp_path / "pln.yaml").write_text(
        "sources:\n  - {name: blog, type: rss, path: blog.xml}\n"
        "  - {name: mirror, type: rss, path: mirror.xml}\n" + CONFIG.split("\n", 2)[2]
    )
    for argv in (["run", "-q"], ["run", "-q", "--full"], ["run", "-q", "--full"]):
        assert pln(*argv, "-c", "pln.yaml", cwd=tmp_path).returncode == 0
    (tmp_path / "blog.xml").write_text(feed("Blog, edited", 4))
    assert pln("run", "-q", "-c", "pln.yaml", cwd=tmp_path).returncode == 0
    with Store(tmp_path / "out" / "pln.duckdb", read_only=True) as store:
        _, [(stored,)] = store.sql("SELECT count(*) FROM items")
        _, [(delivered,)] = store.sql("SELECT items_total FROM sources WHERE name = 'blog'")
    assert (stored, delivered) == (4, 16)  # sources.items_total still counts deliveries
    assert items_column(tmp_path) == {"blog": 4, "mirror": 2}


# -- 19. a file argument that is a directory, missing or unreadable: exit 2, one line ----------

FILE_COMMANDS = [["label", "--csv"], ["topics", "test", "spaced", "--file"]]


@pytest.mark.parametrize("command", FILE_COMMANDS, ids=["label --csv", "topics test --file"])
@pytest.mark.parametrize(
    ("name", "problem"),
    [(".", "is a directory, not a file"), ("nope.csv", "file not found")],
    ids=["directory", "missing"],
)
def test_a_file_argument_that_is_no_readable_file_is_a_user_mistake(
    tmp_path, command, name, problem
):
    (tmp_path / "pln.yaml").write_text(CONFIG)
    path = tmp_path / name
    result = pln(*command, str(path), "-c", "pln.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line_error(result) == f"pln: error: {path}: {problem}"


@pytest.fixture
def shared_dir():
    """A folder an unprivileged user can write in (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="pln-qa-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.parametrize("command", FILE_COMMANDS, ids=["label --csv", "topics test --file"])
def test_an_unreadable_file_argument_is_a_user_mistake(shared_dir, command):
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("needs setpriv to drop root")
    (shared_dir / "pln.yaml").write_text(CONFIG)
    locked = shared_dir / "locked.csv"
    locked.write_text("item_id,topic,label\n")
    locked.chmod(0)
    result = pln(*command, str(locked), "-c", "pln.yaml", cwd=shared_dir, user=65534)
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line_error(result) == f"pln: error: {locked}: cannot read: permission denied"
