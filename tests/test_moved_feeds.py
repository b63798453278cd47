"""A feed that moved for good (its url answers with a 301/308): `pln run`'s summary and
`pln sources` name it and its new URL, until the url answers by itself again. pln never edits
the config: the user does. A temporary redirect (302) is never a move."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pln.cli import main
from pln.record import SourceStatus
from pln.sinks.store import Store
from pln.sinks.store_sources import moved_sources

FEED = (Path(__file__).parent / "fixtures" / "feeds" / "rss2.xml").read_bytes()
NOTE = "(permanent redirect); update its url in pln.yaml"  # run in the config's folder


def write_config(tmp_path: Path, urls: dict[str, str], included: str = "") -> Path:
    """pln.yaml with a feed per url; `included` names a source put in subscriptions.yaml."""
    entries = {n: f'  - {{name: {n}, type: rss, url: "{u}"}}\n' for n, u in urls.items()}
    if included:
        (tmp_path / "subscriptions.yaml").write_text(entries.pop(included).strip())
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"sources:\n{''.join(entries.values())}"
        + ("include_sources: [subscriptions.yaml]\n" if included else "")
        + "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    return path


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Run where the config is, as a person does: the lines name "pln.yaml"."""
    monkeypatch.chdir(tmp_path)


def run(config: Path, capsys, *options: str) -> str:
    """`pln run`'s summary (stdout)."""
    capsys.readouterr()
    assert main(["run", *options, "-c", str(config)]) == 0
    return capsys.readouterr().out


def sources(config: Path, capsys) -> list[str]:
    """`pln sources`'s lines."""
    capsys.readouterr()
    assert main(["sources", "-c", str(config)]) == 0
    return capsys.readouterr().out.splitlines()


def moved_lines(lines: list[str] | str) -> list[str]:
    if isinstance(lines, str):
        lines = lines.splitlines()
    return [line for line in lines if "→" in line]


def test_a_moved_feed_is_named_until_its_url_answers_by_itself(server, tmp_path, capsys):
    # Runs 1 and 2: /old.xml redirects for good; run 2 asks with the ETag, through the
    # redirect, and gets a 304. Run 3: /old.xml answers by itself (the same bytes).
    server.route("/old.xml", status=301, headers={"Location": "/new.xml"}, repeat=2)
    server.route("/old.xml", body=FEED)
    server.route("/new.xml", body=FEED, headers={"ETag": '"v1"'}, repeat=1)
    server.route("/new.xml", status=304)
    server.route("/steady.xml", body=FEED)
    config = write_config(
        tmp_path, {"blog-x": server.url("/old.xml"), "steady": server.url("/steady.xml")}
    )
    line = f"    → blog-x: moved to {server.url('/new.xml')} {NOTE}"

    first = run(config, capsys)
    assert moved_lines(first) == [line]
    assert first.splitlines()[2] == line  # under the sources line
    listed = sources(config, capsys)
    assert "ok, moved" in next(x for x in listed if x.startswith("blog-x "))
    assert "moved" not in next(x for x in listed if x.startswith("steady "))
    assert moved_lines(listed) == [line.strip()]

    second = json.loads(run(config, capsys, "--json"))  # the 304 came through the redirect
    assert second["sources"]["not_modified"] == 2
    assert second["sources"]["moved"] == {"blog-x": server.url("/new.xml")}

    third = run(config, capsys)
    assert moved_lines(third) == [] and "moved to" not in third
    listed = sources(config, capsys)
    assert moved_lines(listed) == [] and ", moved" not in "\n".join(listed)
    assert len(server.requests_to("/old.xml")) == 3  # one request per run
    assert [r.headers.get("if-none-match") for r in server.requests_to("/new.xml")] == [
        None,
        '"v1"',
    ]


def test_many_moved_feeds_name_five_and_a_temporary_redirect_none(server, tmp_path, capsys):
    urls = {}
    for n in range(7):
        server.route(f"/old{n}.xml", status=308, headers={"Location": f"/new{n}.xml"})
        server.route(f"/new{n}.xml", body=FEED)
        urls[f"blog-{n}"] = server.url(f"/old{n}.xml")
    server.route("/today.xml", status=302, headers={"Location": "/elsewhere.xml"})
    server.route("/elsewhere.xml", body=FEED)
    urls["hopping"] = server.url("/today.xml")
    # A private feed's token goes along to the new URL, and is masked like in every message.
    server.route("/private.xml", status=301, headers={"Location": "/moved.xml?token=s3cret"})
    server.route("/moved.xml", body=FEED)
    urls["private"] = server.url("/private.xml?token=s3cret")
    config = write_config(tmp_path, urls, included="blog-6")

    summary = run(config, capsys)
    assert moved_lines(summary) == [
        *(f"    → blog-{n}: moved to {server.url(f'/new{n}.xml')} {NOTE}" for n in range(5)),
        "    → … and 3 more moved (`pln sources` says where)",
    ]
    assert "hopping" not in summary
    listed = sources(config, capsys)
    included = NOTE.replace("pln.yaml", "subscriptions.yaml")  # where blog-6 is listed
    assert moved_lines(listed) == [
        *(f"→ blog-{n}: moved to {server.url(f'/new{n}.xml')} {NOTE}" for n in range(6)),
        f"→ private: moved to {server.url('/moved.xml?token=***')} {NOTE}",
        f"→ blog-6: moved to {server.url('/new6.xml')} {included}",  # the config's order
    ]
    assert "s3cret" not in summary + "\n".join(listed)
    hopping = next(x for x in listed if x.startswith("hopping "))
    assert " ok " in hopping and "moved" not in hopping
    assert len(server.requests_to("/elsewhere.xml")) == 1  # it was read, through the 302


def test_a_quiet_run_warns_of_a_moved_feed_on_stderr_for_cron(server, tmp_path, capsys):
    """`pln run -q` prints no summary, so the move is a warning line, which cron mails."""
    server.route("/old.xml", status=301, headers={"Location": "/new.xml"}, repeat=1)
    server.route("/old.xml", body=FEED)
    server.route("/new.xml", body=FEED)
    server.route("/steady.xml", body=FEED)
    config = write_config(
        tmp_path, {"blog-x": server.url("/old.xml"), "steady": server.url("/steady.xml")}
    )
    capsys.readouterr()
    assert main(["run", "-q", "-c", str(config)]) == 0
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err == f"pln: warning: blog-x: moved to {server.url('/new.xml')} {NOTE}\n"

    assert main(["run", "-q", "-c", str(config)]) == 0  # the url answers by itself again
    assert capsys.readouterr() == ("", "")


def test_a_move_seen_before_the_config_changed_is_not_named(server, tmp_path, capsys):
    """The user updated the url; its first fetch failed, so the stored cursor is still the one
    of the old url: that move is no news."""
    server.route("/old.xml", status=301, headers={"Location": "/new.xml"})
    server.route("/new.xml", body=FEED, repeat=1)
    server.route("/new.xml", status=500)
    config = write_config(tmp_path, {"blog-x": server.url("/old.xml")})
    assert len(moved_lines(run(config, capsys))) == 1

    write_config(tmp_path, {"blog-x": server.url("/new.xml")})
    summary = run(config, capsys)
    assert "✗ blog-x: HTTP 500" in summary and moved_lines(summary) == []
    assert moved_lines(sources(config, capsys)) == []


def test_the_cursor_of_the_last_successful_fetch_decides(tmp_path):
    """update_sources stores the new cursor whole: one without "permanent_url" ends the move;
    a failed fetch keeps the cursor, and the move, of the fetch before it."""
    at = datetime(2026, 12, 1, tzinfo=UTC)

    def status(minutes: int, ok: bool = True, **cursor) -> SourceStatus:
        return SourceStatus(
            "blog-x",
            "rss",
            ok=ok,
            error="" if ok else "HTTP 500",
            cursor={"etag": '"v1"', **cursor} if ok else None,
            fetched_at=at + timedelta(minutes=minutes),
        )

    with Store(tmp_path / "pln.duckdb") as store:
        store.update_sources([status(0, permanent_url="https://new.example/feed.xml")])
        assert moved_sources(store.con) == {"blog-x": "https://new.example/feed.xml"}
        store.update_sources([status(1, ok=False)])
        assert moved_sources(store.con) == {"blog-x": "https://new.example/feed.xml"}
        store.update_sources([status(2)])
        assert moved_sources(store.con) == {}
        assert store.cursors() == {"blog-x": {"etag": '"v1"'}}


def test_a_feed_gone_for_good_says_what_to_do_and_is_asked_once_a_day(server, tmp_path, capsys):
    """410 Gone is no passing failure: the line says to remove or disable the source, and it
    is asked again a day later, not at the next run (QA: retried like a 500, mailed for ever)."""
    server.route("/gone.xml", status=410)
    server.route("/steady.xml", body=FEED)
    config = write_config(
        tmp_path, {"blog-x": server.url("/gone.xml"), "steady": server.url("/steady.xml")}
    )
    summary = run(config, capsys)
    line = next(x for x in summary.splitlines() if "blog-x" in x)
    assert "HTTP 410 Gone from" in line
    assert line.endswith(
        "the feed was taken down for good; remove the source or set `enabled: false`"
    )
    with Store(tmp_path / "out" / "pln.duckdb", read_only=True) as store:
        [(wait,)] = store.sql(
            "SELECT epoch(next_poll_at - last_fetch_at) FROM sources WHERE name = 'blog-x'"
        )[1]
    assert wait >= 86_000
    run(config, capsys)
    assert len(server.requests_to("/gone.xml")) == 1  # the next run left it alone
