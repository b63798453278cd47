"""When `pln run` and `pln topics` say `pln rescore` would change something, and when not.

QA found (4 December 2026) that after a `pln run --full` had decided every stored item again
(a topic's threshold edited), the summary still said that `pln rescore` applies the edit, and
the rescore then changed nothing; and that `pln topics` showed a new or renamed topic with 0
scored items, never saying that `pln rescore` would score the stored ones for it. A full run
that left some stored items alone (a source failed, disabled, gone from the config, or its feed
no longer lists them) must keep the hint. Real runs through the CLI, on feed files in tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import rss_entry, rss_feed

from pln.cli import main

HINT = "  rescore   the topics, the model or pln's matching changed since the stored items"


A = [
    rss_entry(1, "Spaced repetition at work", host="a.example"),
    rss_entry(2, "Coffee", host="a.example"),
]
B = [
    rss_entry(1, "Retrieval practice quizzes", host="b.example"),
    rss_entry(2, "Lunch", host="b.example"),
]


class Project:
    """Two feeds, `a` and `b`, and topics; `write` rewrites the config."""

    def __init__(self, folder: Path, b_entries: list[str] = B):
        self.folder = folder
        self.config = folder / "pln.yaml"
        (folder / "a.xml").write_text(rss_feed(*A))
        (folder / "b.xml").write_text(rss_feed(*b_entries))
        self.write()

    def write(self, threshold: float = 0.5, b: str = "", topics: str = "", a: str = "") -> None:
        """`a`, `b`: the sources' extra options ("enabled: false"); `b="gone"` leaves b out."""
        b_entry = "" if b == "gone" else f"  - {{name: b, type: rss, path: b.xml, {b}}}\n"
        self.config.write_text(
            f"sources:\n  - {{name: a, type: rss, path: a.xml, {a}}}\n{b_entry}topics:\n"
            f"  - {{id: practice, phrases: [spaced repetition, retrieval practice], "
            f"threshold: {threshold}}}\n{topics}"
            "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
        )

    def pln(self, capsys, *args: str) -> str:
        code = main([*args, "-c", str(self.config)])
        out, err = capsys.readouterr()
        assert code == 0, err
        return out


def test_a_full_run_that_decided_every_item_again_counts_as_the_rescore(tmp_path, capsys):
    project = Project(tmp_path)
    project.pln(capsys, "run", "-q")
    project.write(threshold=0.6)
    assert HINT in project.pln(capsys, "run")  # nothing new was read: the items keep theirs
    summary = json.loads(project.pln(capsys, "run", "--full", "--json"))
    assert summary["items"]["written"] == 4 and "rescore_due" not in summary
    assert HINT not in project.pln(capsys, "run")
    out = project.pln(capsys, "rescore")
    assert "practice: 2 kept (same)" in out
    assert "earlier version" not in project.pln(capsys, "topics")


def test_a_run_that_read_every_source_again_after_their_edit_counts_too(tmp_path, capsys):
    """A source whose options changed is read again whole (as after the project folder moved):
    when every source was, the run decided every stored item, without --full."""
    project = Project(tmp_path)
    project.pln(capsys, "run", "-q")
    project.write(threshold=0.6, b="timeout: 30")
    assert HINT in project.pln(capsys, "run")  # b was read whole, a was not
    project.write(threshold=0.7, a="timeout: 30", b="timeout: 40")
    assert HINT not in project.pln(capsys, "run")


def test_a_failed_source_keeps_the_hint_for_an_item_another_source_delivered_too(tmp_path, capsys):
    """Each source's copy of an item is decided on its own: the failed one's stays as it was,
    though the other source's run wrote the item."""
    project = Project(tmp_path, b_entries=[A[0]])  # b delivers one of a's posts, nothing else
    project.pln(capsys, "run", "-q")
    project.write(threshold=0.99)
    (project.folder / "b.xml").write_text("<html>down</html>")
    summary = json.loads(project.pln(capsys, "run", "--full", "--json"))
    assert summary["items"]["written"] == 2 and summary["sources"]["failed"] == 1
    assert summary["rescore_due"] is True


FULL_RUNS_THAT_LEAVE_ITEMS = {
    "a source failed": lambda p: (p.folder / "b.xml").write_text("<html>down</html>"),
    "a source disabled": lambda p: p.write(threshold=0.6, b="enabled: false"),
    "a source gone from the config": lambda p: p.write(threshold=0.6, b="gone"),
    "a feed that no longer lists an item": lambda p: (p.folder / "b.xml").write_text(
        rss_feed(B[1])
    ),
}


@pytest.mark.parametrize("case", FULL_RUNS_THAT_LEAVE_ITEMS)
def test_a_full_run_that_left_stored_items_alone_keeps_the_hint(tmp_path, capsys, case):
    project = Project(tmp_path)
    project.pln(capsys, "run", "-q")
    project.write(threshold=0.6)
    FULL_RUNS_THAT_LEAVE_ITEMS[case](project)
    assert HINT in project.pln(capsys, "run", "--full")
    assert HINT in project.pln(capsys, "run")
    project.pln(capsys, "rescore")
    assert HINT not in project.pln(capsys, "run")


NEW_TOPIC = "  - {id: quizzes, phrases: [quizzes]}\n"
ADDED = (
    "quizzes was added after the stored items were scored (runs score only the items they "
    "read): `pln rescore` scores them for it"
)


def test_topics_names_a_topic_added_after_the_items_were_scored(tmp_path, capsys):
    project = Project(tmp_path)
    project.pln(capsys, "run", "-q")
    assert "added after" not in project.pln(capsys, "topics")
    project.write(topics=NEW_TOPIC)
    project.pln(capsys, "run", "-q")  # nothing new to read: quizzes stays empty
    out = project.pln(capsys, "topics")
    assert out.splitlines()[-1] == ADDED
    quizzes = next(line for line in out.splitlines() if line.startswith("quizzes "))
    assert quizzes.split()[3:5] == ["0", "0"]  # scored, kept
    project.pln(capsys, "rescore")
    out = project.pln(capsys, "topics")
    assert "added after" not in out
    quizzes = next(line for line in out.splitlines() if line.startswith("quizzes "))
    assert quizzes.split()[3:5] == ["1", "1"]


def test_topics_names_every_new_topic_until_a_full_run_scores_them(tmp_path, capsys):
    project = Project(tmp_path)
    project.pln(capsys, "run", "-q")
    two = NEW_TOPIC + "  - {id: lunch, phrases: [lunch]}\n"
    project.write(topics=two)
    assert project.pln(capsys, "topics").splitlines()[-1] == (
        "quizzes and lunch were added after the stored items were scored (runs score only the "
        "items they read): `pln rescore` scores them for those topics"
    )
    project.pln(capsys, "run", "-q", "--full")
    assert "added after" not in project.pln(capsys, "topics")
