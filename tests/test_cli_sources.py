"""`pln sources import` and `pln sources`: subscriptions from OPML, health per source."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import db_rows

from pln.cli import main
from pln.config import load_config

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"

CONFIG = """# my PLN
sources:
  - {name: loop, type: rss, url: "https://learningloop.example/feed/"}
  - {name: local, type: rss, path: rss2.xml}
  - {name: gone, type: rss, path: missing.xml}
topics:
  - {id: practice, phrases: [retrieval practice, spaced repetition]}
outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}
"""


def make_config(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / "rss2.xml", tmp_path / "rss2.xml")
    path = tmp_path / "pln.yaml"
    path.write_text(CONFIG)
    return path


def test_import_adds_new_feeds_once_and_keeps_comments(tmp_path, capsys):
    config_path = make_config(tmp_path)
    opml = str(FIXTURES / "subscriptions.opml")
    assert main(["sources", "import", opml, "-c", str(config_path)]) == 0
    first = capsys.readouterr().out
    assert "already subscribed" in first  # learningloop.example/feed/ was in the config
    config = load_config(config_path)
    urls = {s.options.get("url") for s in config.sources}
    assert "https://ldlab.example/atom.xml" in urls
    assert "https://retrieval.example/rss.xml" in urls
    assert len({s.name for s in config.sources}) == len(config.sources)
    assert config_path.read_text().startswith("# my PLN")

    assert main(["sources", "import", opml, "-c", str(config_path)]) == 0
    assert capsys.readouterr().out.startswith(f"nothing added from {opml}: no new feed in it; ")
    assert len(load_config(config_path).sources) == len(config.sources)


def test_bad_opml_is_one_line(tmp_path, capsys):
    config_path = make_config(tmp_path)
    bad = tmp_path / "bad.opml"
    bad.write_text("<opml><body><outline")
    assert main(["sources", "import", str(bad), "-c", str(config_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pln: error: {bad}") and "\n" not in err


def test_sources_shows_health_after_a_run(tmp_path, capsys):
    config_path = make_config(tmp_path)
    config_path.write_text(
        CONFIG.replace(
            '  - {name: loop, type: rss, url: "https://learningloop.example/feed/"}\n', ""
        )
    )
    assert main(["sources", "-c", str(config_path)]) == 0
    assert "never run" in capsys.readouterr().out
    assert main(["run", "-q", "-c", str(config_path)]) == 0
    assert main(["sources", "-c", str(config_path)]) == 0
    out = capsys.readouterr().out
    local = next(line for line in out.splitlines() if line.startswith("local"))
    gone = next(line for line in out.splitlines() if line.startswith("gone"))
    assert " ok " in local
    assert "failing ×1" in gone and "not found" in gone

    # Fixed: `ok`, and the error it had is dated history, not its state (QA, 4 Dec 2026).
    shutil.copy(tmp_path / "rss2.xml", tmp_path / "missing.xml")
    assert main(["run", "-q", "--full", "-c", str(config_path)]) == 0
    assert main(["sources", "-c", str(config_path)]) == 0
    back = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("gone"))
    [(error_at,)] = db_rows(config_path.parent / "out" / "pln.duckdb",
                            "SELECT last_error_at FROM sources WHERE name = 'gone'")  # fmt: skip
    assert " ok " in back and "failing" not in back
    assert f"recovered; {error_at:%Y-%m-%d %H:%M}: " in back and "not found" in back


def test_import_adds_itself_to_an_include_list_the_config_has(tmp_path, capsys):
    config_path = make_config(tmp_path)
    (tmp_path / "team.yaml").write_text("- {name: team, type: rss, path: rss2.xml}\n")
    config_path.write_text(
        CONFIG.replace("topics:", "include_sources:\n  - team.yaml   # the team's feeds\ntopics:")
    )
    opml = str(FIXTURES / "subscriptions.opml")
    assert main(["sources", "import", opml, "-c", str(config_path)]) == 0
    assert "include_sources:\n  - team.yaml   # the team's feeds\n  - subscriptions.yaml\n" in (
        config_path.read_text()
    )
    names = {s.name for s in load_config(config_path).sources}
    assert "team" in names and "https://ldlab.example/atom.xml" in {
        s.options.get("url") for s in load_config(config_path).sources
    }


def test_an_import_that_would_break_the_config_changes_no_file(tmp_path, capsys):
    config_path = make_config(tmp_path)
    stale = tmp_path / "subscriptions.yaml"  # left from an earlier import, not included
    stale.write_text("- {name: old, type: nosuch, url: 'https://old.example/feed'}\n")
    before = config_path.read_bytes(), stale.read_bytes()
    opml = str(FIXTURES / "subscriptions.opml")
    assert main(["sources", "import", opml, "-c", str(config_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "nosuch" in err and "\n" not in err
    assert (config_path.read_bytes(), stale.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pln.yaml",
        "rss2.xml",
        "subscriptions.yaml",
    ]


def test_a_disabled_source_is_not_read_and_every_command_says_so(tmp_path, capsys):
    """`enabled: false`: runs skip the source; `pln sources` shows it disabled with what its last
    read left and no next poll, `pln validate` counts it, the run summary names it, and the
    failed-sources warning counts only the sources a run tries."""
    config_path = make_config(tmp_path)
    config_path.write_text(
        CONFIG.replace(
            '  - {name: loop, type: rss, url: "https://learningloop.example/feed/"}\n', ""
        )
    )
    assert main(["run", "-q", "-c", str(config_path)]) == 0
    capsys.readouterr()
    config_path.write_text(
        CONFIG.replace(
            'url: "https://learningloop.example/feed/"}',
            'url: "https://learningloop.example/feed/", enabled: false}',
        ).replace("path: rss2.xml}", "path: rss2.xml, enabled: false}")
    )
    assert main(["validate", "-c", str(config_path)]) == 0
    assert (
        capsys.readouterr().out
        == f"{config_path}: ok (3 sources (2 disabled), 1 topic: practice)\n"
    )

    db = tmp_path / "out" / "pln.duckdb"
    before = db_rows(db, "SELECT last_fetch_at, next_poll_at FROM sources WHERE name = 'local'")
    assert main(["run", "--full", "-c", str(config_path)]) == 0  # --full reads no disabled one
    out, err = capsys.readouterr()
    assert "  sources   0 read, 1 failed, 2 disabled (loop, local)\n" in out
    assert "local" not in err and "loop" not in err  # not even tried
    assert "pln: warning: 1 of 1 sources failed: gone" in err
    assert (
        db_rows(db, "SELECT last_fetch_at, next_poll_at FROM sources WHERE name = 'local'")
        == before
    )
    assert db_rows(db, "SELECT count(*) FROM sources WHERE name = 'loop'") == [(0,)]

    assert main(["sources", "-c", str(config_path)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:-1]}
    # source, type, state, items, skipped, last ok (date, time), next poll
    assert rows["local"][:5] == ["local", "rss", "disabled", "3", "-"] and len(rows["local"]) == 8
    assert rows["local"][7] == "-"  # no next poll: it is not polled
    assert rows["loop"] == ["loop", "rss", "disabled", "0", "-", "-", "-"]  # never read
    assert rows["gone"][2:4] == ["failing", "×2"]
