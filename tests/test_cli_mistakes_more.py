"""Small CLI mistakes a QA pass made by following the docs: each is one line on stderr naming
the file or the argument, exit code 2, never a traceback; and progress lines that count in
English ("1 source", "1 item"). Real CLI runs on real DuckDB stores."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from feedsite import POSTS, build_site, free_port
from test_learning import FIXTURES, TOPIC, run_pln
from test_serve import get

from pln.record import Decision
from pln.serve import FeedServer
from pln.sinks.store import Store

REPO = Path(__file__).resolve().parents[1]
FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>'
    "<item><title>Spaced practice works</title><link>https://blog.example/1</link>"
    "<guid>https://blog.example/1</guid><description>Spaced practice, again.</description>"
    "</item></channel></rss>"
)


def pln(*argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`pln ARGV` in a process of its own, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pln.cli", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=120,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def blog_config(folder: Path, nlp: str = "") -> Path:
    """One feed file with one post, one topic that keeps it."""
    (folder / "blog.xml").write_text(FEED)
    path = folder / "pln.yaml"
    path.write_text(
        "sources:\n  - {name: blog, type: rss, path: blog.xml}\n"
        "topics:\n  - {id: spaced, title: Spaced practice, phrases: [spaced practice]}\n"
        + (f"nlp: {{pipeline: {nlp}}}\n" if nlp else "")
        + "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    return path


# -- 1. no database yet: a user mistake (exit 2) in every command, as in `pln sql` -------------


@pytest.mark.parametrize(
    "argv",
    [
        ["eval"],
        ["rescore"],
        ["label", "0123abcd", TOPIC, "+"],
        ["label", "--suggest", TOPIC],
        ["topics", "test", TOPIC, "--item", "0123abcd"],
        ["topics", "suggest", TOPIC],
    ],
)
def test_a_learning_command_before_the_first_run_is_a_user_mistake(tmp_path, capsys, argv):
    path = tmp_path / "pln.yaml"
    path.write_text((FIXTURES / "topics.yaml").read_text())
    code, out, err = run_pln(capsys, *argv, "-c", str(path))
    db = tmp_path / "out" / "pln.duckdb"
    assert (code, out) == (2, "")
    assert err == f"pln: error: database {db} does not exist; run `pln run` first\n"
    assert not db.exists()


# -- 2. pln serve: a port out of range, a host that names nothing ---------------------------


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_serve_refuses_a_port_out_of_range_in_one_line(tmp_path, port):
    config = blog_config(tmp_path)
    result = pln("serve", "-c", str(config), "-q", "--port", port, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [  # one line, no usage lines before it
        f"pln serve: error: argument --port: must be 0-65535 (0: any free port), got '{port}'"
    ]


@pytest.mark.parametrize("server", ["granian", "waitress"])
def test_serve_on_a_host_that_names_nothing_is_one_line(tmp_path, server):
    config = blog_config(tmp_path)
    host = "no-such-host.invalid"  # .invalid never resolves (RFC 2606)
    result = pln(
        "serve", "-c", str(config), "-q", "--server", server, "--host", host, "--port", "0",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert one_line_error(result).startswith(f"pln: error: --host {host}: no address to listen on")


# -- 3. nlp.pipeline: checked by validate, named with the config file ------------------------


def test_validate_and_run_name_the_config_of_a_pipeline_not_installed(tmp_path):
    config = blog_config(tmp_path, nlp="pln_no_such_pipeline_xyz")
    expected = (
        "pln: error: pln.yaml: nlp.pipeline: spaCy pipeline 'pln_no_such_pipeline_xyz' is not "
        "installed: check the name, install its package (one of spaCy's own: python -m spacy "
        "download pln_no_such_pipeline_xyz), or use 'blank:en'\n"
    )
    for command in (["validate"], ["run", "-q"]):
        result = pln(*command, "-c", "pln.yaml", cwd=tmp_path)
        assert (result.returncode, result.stdout, one_line_error(result)) == (2, "", expected)
    assert not (tmp_path / "out" / "pln.duckdb").exists()
    assert config.read_text().count("pln_no_such_pipeline_xyz") == 1


@pytest.mark.parametrize(
    ("pipeline", "problem"),
    [
        (
            "mypipe",
            "'mypipe': folder without config.cfg and meta.json (not a saved spaCy pipeline)",
        ),
        ("'blank:zz'", "'blank:zz': spaCy has no language 'zz' (e.g. en, de)"),
        (  # it used to pass, then every command that curates failed with a traceback
            "spacy",
            "'spacy': the installed package spacy is not a spaCy pipeline (it has no meta.json)",
        ),
    ],
)
def test_validate_refuses_a_pipeline_it_could_not_load(tmp_path, pipeline, problem):
    (tmp_path / "mypipe").mkdir()  # a folder, but no saved pipeline in it
    blog_config(tmp_path, nlp=pipeline)
    result = pln("validate", "-c", "pln.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        one_line_error(result) == f"pln: error: pln.yaml: nlp.pipeline: spaCy pipeline {problem}\n"
    )


# -- 4. how long to wait for a busy database -----------------------------------------------


def test_a_bad_lock_wait_setting_is_a_user_mistake(tmp_path):
    config = blog_config(tmp_path)
    assert pln("run", "-q", "-c", str(config), cwd=tmp_path).returncode == 0
    result = pln("sql", "-c", str(config), "SELECT 1", cwd=tmp_path, PLN_LOCK_WAIT="abc")
    assert result.returncode == 2
    assert (
        one_line_error(result)
        == "pln: error: PLN_LOCK_WAIT must be a number of seconds, got 'abc'\n"
    )


@pytest.mark.parametrize("wait", ["-1", "nan", "soon"])
def test_sql_refuses_a_negative_wait(tmp_path, wait):
    config = blog_config(tmp_path)
    assert pln("run", "-q", "-c", str(config), cwd=tmp_path).returncode == 0
    result = pln("sql", "-c", str(config), f"--wait={wait}", "SELECT 1", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [  # one line, no usage lines before it
        f"pln sql: error: argument --wait: must be a number of seconds, 0 or more, got '{wait}'"
    ]


def test_sql_names_a_folder_given_as_the_database(tmp_path):
    result = pln("sql", "--db", str(tmp_path), "SELECT 1", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "pln: error: database . is a folder; name a database file\n"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["forget", "--days", "abc"],
            "pln forget: error: argument --days: invalid int value: 'abc'",
        ),
        (
            ["sql", "--format", "xml", "SELECT 1"],
            "pln sql: error: argument --format: invalid choice: 'xml' "
            "(choose from 'table', 'csv', 'json')",
        ),
    ],
)
def test_argument_mistakes_are_one_line(tmp_path, argv, line):
    result = pln(*argv, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [line]


# -- 5. an unknown topic: the same message in every command ------------------------------------


@pytest.mark.parametrize("action", ["add", "remove"])
def test_topics_add_and_remove_list_the_known_topics(tmp_path, capsys, action):
    config = blog_config(tmp_path)
    before = config.read_bytes()
    code, out, err = run_pln(capsys, "topics", action, "spcaed", "retrieval", "-c", str(config))
    assert (code, out) == (2, "")
    assert err == f"pln: error: {config}: no topic named 'spcaed' (known: spaced)\n"
    assert config.read_bytes() == before


# -- 6. counts in progress and summary lines ---------------------------------------------------


def test_a_write_of_dead_letters_alone_prints_no_progress_line(monkeypatch, capsys):
    from pln import progress

    monkeypatch.setenv(progress.ENV, "1")
    ticker = progress.Ticker("written")
    ticker.add(0)
    ticker.close()
    assert capsys.readouterr().err == ""
    ticker.add(2)
    assert capsys.readouterr().err.strip() == "written: 2 items"


def test_one_source_one_topic_and_one_item_are_singular(tmp_path):
    blog_config(tmp_path)
    result = pln("validate", "-c", "pln.yaml", cwd=tmp_path)
    assert result.stdout == "pln.yaml: ok (1 source, 1 topic: spaced)\n"
    result = pln("run", "-c", "pln.yaml", cwd=tmp_path, PLN_PROGRESS="1")
    assert result.returncode == 0, result.stderr
    said = result.stderr.splitlines()
    assert "  reading 1 source" in said
    assert any(re.fullmatch(r"  written: 1 item\s*", line) for line in said), said
    assert not re.search(r"\b1 (sources|items|topics)\b", result.stderr + result.stdout)


# -- 7. the search page: an item kept by two topics --------------------------------------------


def test_search_page_ids_are_unique_when_two_topics_keep_an_item(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    item, score = POSTS[0]
    both = [
        Decision(item.id, "spaced", score, True, "matched 'spaced practice'"),
        Decision(item.id, "feedback", 0.7, True, "matched 'feedback'"),
    ]
    with Store(config.outputs.duckdb) as store:
        store.write([item], both, [])  # an item's decisions replace its earlier ones
    with FeedServer(config, "127.0.0.1", port) as server:
        page = get(server, "search?" + urlencode({"q": "part 1"}))[2].decode()
    assert "1 kept item mentions" in page  # one result, whichever topics keep it
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), ids
    assert ids.count(f"item-{item.id}") == 1  # a link to #item-<id> still lands on it


# -- 9. the learning bench says how to run it --------------------------------------------------


def test_bench_learning_help_prints_usage_and_runs_nothing(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_learning.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: bench/bench_learning.py [-h] [--no-reuters]")
    assert "nlp.pipeline:" not in result.stdout  # the bench did not start
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import bench_learning
    finally:
        sys.path.remove(str(REPO / "bench"))
    args = bench_learning.parse_args(["3", "--no-reuters", "--no-speed"])
    assert (args.seeds, args.no_reuters, args.no_speed, args.speed_only) == (3, True, True, False)
    assert bench_learning.parse_args([]).seeds == 5


def test_a_database_path_that_is_no_duckdb_file_is_a_user_mistake(tmp_path):
    """`pln sql --db` naming the wrong file (a text file, the config) says so, exit 2."""
    wrong = tmp_path / "notes.txt"
    wrong.write_text("not a database\n" * 100)
    result = pln("sql", "--db", str(wrong), "SELECT 1", cwd=tmp_path)
    assert result.returncode == 2
    # named as seen from the working folder, as the user would type it
    assert result.stderr == "pln: error: database notes.txt: not a DuckDB database file\n"
