"""Upgrading pln over what an older one left beside the config (a QA pass on upgrades), run as a
user runs it (real CLI in a process of its own, real files, real DuckDB):

- models an older pln saved in a format this one cannot read (one spaCy classifier per topic
  in models/<topic>/v<N>/; then shared models of format pln-shared-lr.v1 or .v2 in
  models/v<N>/) are not used, and every run says so in one warning line naming the topics,
  until `pln train` makes today's model from the stored labels;
- a store written before pln noted what its decisions were scored with (pln_meta
  `scored_with`) holds decisions of the older pln's matching and model: `pln run` says a
  rescore is due, and a new store never does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy
import spacy
from helpers import db_rows

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIG = """sources:
  - {name: forgetting-curve, type: rss, path: feeds/forgetting-curve.xml}
  - {name: small-bites, type: rss, path: feeds/small-bites.atom}
topics:
  - id: retrieval-practice
    phrases: [retrieval practice, spaced practice, spaced repetition, forgetting curve]
  - id: microlearning
    phrases: [microlearning, bite-sized learning, just-in-time learning]
outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}
"""
ADVICE = "run `pln train` again (your labels are in the store)"
RESCORE = "  rescore   the topics, the model or pln's matching changed since the stored items"


def workspace(tmp_path: Path) -> Path:
    """A config over two of the example's blogs, with two topics; its outputs in out/."""
    (tmp_path / "feeds").mkdir()
    for name in ("forgetting-curve.xml", "small-bites.atom"):
        shutil.copy(EXAMPLES / "data" / "feeds" / name, tmp_path / "feeds" / name)
    config = tmp_path / "pln.yaml"
    config.write_text(CONFIG)
    return config


def pln(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """`pln ARGV` in a process of its own, as a user (or cron) runs it."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pln.cli", *argv]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def older_model_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if "saved by an older pln" in line]


def per_topic_model(models: Path, topic: str, version: int = 1) -> Path:
    """A topic's model as the first learning filter saved it (pln before the shared model,
    filters/classifier.py of 2026-11-27): models/<topic>/v<N>/ holding meta.json and the spaCy
    pipeline (pipeline/: config.cfg, meta.json, tokenizer, vocab/, and the component
    textcat_multilabel/ whose architecture, pln.NormBOW.v1, today's pln no longer has)."""
    folder = models / topic / f"v{version}"
    pipeline = folder / "pipeline"
    folder.mkdir(parents=True)
    spacy.blank("en").to_disk(pipeline)  # config.cfg, meta.json, tokenizer, vocab/
    config = (pipeline / "config.cfg").read_text()
    config = config.replace("pipeline = []", 'pipeline = ["textcat_multilabel"]').replace(
        "[components]\n",
        '[components]\n\n[components.textcat_multilabel]\nfactory = "textcat_multilabel"\n'
        "threshold = 0.5\n\n[components.textcat_multilabel.model]\n"
        '@architectures = "pln.NormBOW.v1"\nngram_size = 2\nlength = 131072\nnO = null\n',
    )
    (pipeline / "config.cfg").write_text(config)
    meta = json.loads((pipeline / "meta.json").read_text())
    meta.update(
        pipeline=["textcat_multilabel"],
        components=["textcat_multilabel"],
        labels={"textcat_multilabel": [topic]},
    )
    (pipeline / "meta.json").write_text(json.dumps(meta, indent=2))
    (pipeline / "textcat_multilabel").mkdir()
    (pipeline / "textcat_multilabel" / "cfg").write_text(
        json.dumps({"labels": [topic], "threshold": 0.5}, indent=2)
    )
    (pipeline / "textcat_multilabel" / "model").write_bytes(b"\x84\xa5nodes\x90" + bytes(4096))
    (folder / "meta.json").write_text(
        json.dumps(
            {
                "topic": topic,
                "version": version,
                "trained_at": "2026-11-28T09:12:44+00:00",
                "architecture": "pln.NormBOW.v1",
                "spacy": spacy.__version__,
                "n_pos": 12,
                "n_neg": 9,
                "pipeline": "blank:en",
                "topic_version": "5d1210df65",
                "settings": {"iterations": 20, "dropout": 0.2, "batch_size": 8, "seed": 0},
                "metrics": {"held_out": 5, "held_out_pos": 3},
            },
            indent=2,
        )
        + "\n"
    )
    return folder


def test_models_saved_per_topic_by_an_older_pln_are_named_in_one_warning_a_run(tmp_path):
    workspace(tmp_path)
    models = tmp_path / "out" / "models"
    per_topic_model(models, "retrieval-practice")
    per_topic_model(models, "retrieval-practice", version=2)
    # A half-saved version (the old trainer staged in a hidden folder, with no meta.json yet)
    # and the model of a topic the config no longer has are nothing to tell.
    (models / "microlearning" / ".staging-v1-x1y2" / "pipeline").mkdir(parents=True)
    per_topic_model(models, "onboarding")

    warning = (
        "pln: warning: the model for topic 'retrieval-practice' was saved by an older pln and "
        f"is not used; {ADVICE}"
    )
    done = pln("run", "-c", "pln.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert older_model_lines(done) == [warning]
    assert "kept      retrieval-practice" in done.stdout  # the run curated, by the rules
    done = pln("run", "-q", "-c", "pln.yaml", cwd=tmp_path)  # cron's run says it too
    assert (done.returncode, done.stdout, older_model_lines(done)) == (0, "", [warning])
    done = pln("topics", "-c", "pln.yaml", cwd=tmp_path)
    assert done.returncode == 0 and older_model_lines(done) == [warning]
    rows = [line.split() for line in done.stdout.splitlines()[2:4]]
    assert [(row[0], row[-1]) for row in rows] == [
        ("retrieval-practice", "-"),
        ("microlearning", "-"),
    ]

    # Two topics' models: still one line, naming both in the config's order.
    per_topic_model(models, "microlearning")
    done = pln(
        "topics", "test", "microlearning", "--text", "Bite-sized", "-c", "pln.yaml", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert older_model_lines(done) == [
        "pln: warning: the models for topics 'retrieval-practice', 'microlearning' were saved by "
        f"an older pln and are not used; {ADVICE}"
    ]

    # `pln train` makes today's model from the stored labels beside the old folders; from then
    # on nothing is said (the old folders are left-overs).
    decided = db_rows(
        tmp_path / "out" / "pln.duckdb",
        "SELECT item_id, topic FROM decisions WHERE kept ORDER BY topic, item_id",
    )
    firsts = {
        topic: [i for i, t in decided if t == topic][:3]
        for topic in ("retrieval-practice", "microlearning")
    }
    labels = ["item_id,topic,label"]
    for topic, other in (
        ("retrieval-practice", "microlearning"),
        ("microlearning", "retrieval-practice"),
    ):
        labels += [f"{item},{topic},+" for item in firsts[topic]]
        labels += [f"{item},{topic},-" for item in firsts[other]]
    (tmp_path / "labels.csv").write_text("\n".join(labels) + "\n")
    done = pln("label", "--csv", "labels.csv", "-c", "pln.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = pln("train", "-c", "pln.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert older_model_lines(done) == []
    assert (models / "v1" / "meta.json").is_file()
    for argv in (("run", "-c", "pln.yaml"), ("topics", "-c", "pln.yaml")):
        done = pln(*argv, cwd=tmp_path)
        assert done.returncode == 0 and older_model_lines(done) == [], done.stderr
    assert " v1 " in pln("topics", "-c", "pln.yaml", cwd=tmp_path).stdout


def test_a_shared_model_of_an_earlier_format_is_named_in_one_warning(tmp_path):
    """models/v1 as pln saved it on 2026-12-02 before the relevance word model (format
    pln-shared-lr.v2: nine feature weights, no relevance weights), read by no pln since."""
    config = workspace(tmp_path)
    folder = tmp_path / "out" / "models" / "v1"
    folder.mkdir(parents=True)
    numpy.savez_compressed(  # the arrays SharedModel.save wrote then
        folder / "model.npz",
        keys=numpy.array([3, 17, 29], dtype=numpy.uint64),
        idf=numpy.ones(3, dtype=numpy.float32),
        centroids=numpy.full((2, 3), 0.5, dtype=numpy.float32),
        protos=numpy.eye(2, 3, dtype=numpy.float32),
        proto_topic=numpy.array([0, 1]),
        proto_pos=numpy.array([True, False]),
        thresholds=numpy.array([0.5, 0.5]),
        weights=numpy.array([4.0, 3.0, 0.2, 0.1, -0.1, -0.1, 0.0, -0.2, 0.3]),
    )
    meta = {
        "format": "pln-shared-lr.v2",
        "version": 1,
        "trained_at": "2026-12-02T10:00:00+00:00",
        "topics": ["retrieval-practice", "microlearning"],
        "bias": -3.0,
        "pipeline": "blank:en",
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    for argv in (("run", "-c", str(config)), ("rescore", "-c", str(config))):
        done = pln(*argv, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert older_model_lines(done) == [
            f"pln: warning: the model in {folder} was saved by an older pln and is not used; "
            + ADVICE
        ]


def test_a_store_scored_before_pln_noted_how_is_due_a_rescore_and_a_new_one_is_not(tmp_path):
    workspace(tmp_path)
    db = tmp_path / "out" / "pln.duckdb"
    done = pln("run", "-c", "pln.yaml", cwd=tmp_path)  # a new store: nothing to rescore
    assert done.returncode == 0, done.stderr
    assert "rescore" not in done.stdout and "kept      retrieval-practice" in done.stdout
    assert db_rows(db, "SELECT count(*) FROM decisions")[0][0] > 0
    assert db_rows(db, "SELECT count(*) FROM pln_meta WHERE key = 'scored_with'") == [(1,)]

    # The store as a pln before `scored_with` left it: the same tables, decisions and all.
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM pln_meta WHERE key = 'scored_with'")
    done = pln("run", "-c", "pln.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(RESCORE)
    done = pln("run", "--json", "-c", "pln.yaml", cwd=tmp_path)
    assert json.loads(done.stdout)["rescore_due"] is True
    done = pln("rescore", "-c", "pln.yaml", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("rescored "), done.stderr
    done = pln("run", "-c", "pln.yaml", cwd=tmp_path)
    assert done.returncode == 0 and "rescore" not in done.stdout
