"""What a QA pass that followed the docs literally found (2026-12): the docs' examples are
checked here so they cannot drift from the code, with the small code slips it found."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import chat_source

from pln.config import SOURCE_KEYS, ConfigError, NlpConfig
from pln.filters.learning import too_few
from pln.sources.registry import SOURCE_TYPES, load_checked_config

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Source types and their options"
SLACK_EXPORT = Path(__file__).parent / "fixtures" / "chat" / "slack" / "export"
TOPICS = "topics:\n  - {id: t, title: T, phrases: [learning]}\n"


def type_sections() -> dict[str, str]:
    """docs/fetching.md's "Source types and their options", by type: the text under each
    "### `type`" heading."""
    text = (REPO / "docs" / "fetching.md").read_text()
    assert SECTION in text, "docs/fetching.md lost its source types section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### `(\w+)`\n", section, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def examples(text: str) -> list[dict]:
    """The source entries of the ```yaml blocks in `text`, each block one list of entries."""
    entries = []
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        parsed = yaml.safe_load(block)
        assert isinstance(parsed, list), block
        entries.extend(parsed)
    return entries


def write_config(folder: Path, sources: list[dict]) -> Path:
    config = folder / "pln.yaml"
    config.write_text(yaml.safe_dump({"sources": sources}, sort_keys=False) + TOPICS)
    return config


def test_every_registered_source_type_is_documented_with_an_example():
    sections = type_sections()
    assert sorted(sections) == sorted(SOURCE_TYPES)
    for type_name, text in sections.items():
        types = {entry["type"] for entry in examples(text)}
        assert types == {type_name}, f"{type_name}: examples of {types or 'no type'}"


def test_the_documented_examples_are_valid_configs(tmp_path):
    sources = [entry for text in type_sections().values() for entry in examples(text)]
    assert len({s["name"] for s in sources}) == len(sources)  # one config holds them all
    config = load_checked_config(write_config(tmp_path, sources))
    assert [s.type for s in config.sources] == [s["type"] for s in sources]


def known_keys(folder: Path, entry: dict) -> set[str]:
    """The keys a source of the example's type takes, as its unknown-key error lists them."""
    with pytest.raises(ConfigError) as raised:
        load_checked_config(write_config(folder, [{**entry, "zzqqxx": 1}]))
    listed = re.search(r"known keys here: ([\w, ]+)\)", str(raised.value))
    assert listed, str(raised.value)
    return set(listed[1].split(", "))


def test_every_option_a_source_type_takes_is_documented(tmp_path):
    """Each key a type reads (its `configure()`) is named in its section, so a new option
    cannot go undocumented."""
    for type_name, text in type_sections().items():
        keys = set().union(*(known_keys(tmp_path, e) for e in examples(text))) - set(SOURCE_KEYS)
        missing = sorted(k for k in keys if f"`{k}`" not in text and f"`{k}:" not in text)
        assert not missing, f"{type_name}: options not documented: {missing}"


# -- slack takes max_file_mb, as the other chat sources do --------------------------------------


def slack_copy(tmp_path: Path, day_bytes: int) -> Path:
    """The Slack fixture export with one more day in lrn-design, about `day_bytes` long."""
    export = tmp_path / "export"
    shutil.copytree(SLACK_EXPORT, export)
    text = "padding " * (day_bytes // 8)
    messages = [{"type": "message", "user": "U1", "ts": "1763560000.000100", "text": text}]
    (export / "lrn-design" / "2026-11-20.json").write_text(json.dumps(messages))
    return export


def test_slack_accepts_max_file_mb_in_the_config(tmp_path):
    config = write_config(
        tmp_path, [{"name": "s", "type": "slack", "path": ".", "max_file_mb": 10}]
    )
    assert load_checked_config(config).sources[0].options["max_file_mb"] == 10


@pytest.mark.parametrize(("value", "message"), [(0, "at least 1"), (2048, "at most 1024")])
def test_slack_max_file_mb_is_checked_as_for_the_other_chat_sources(tmp_path, value, message):
    with pytest.raises(ConfigError, match=f"max_file_mb: must be {message}"):
        chat_source("slack", tmp_path, max_file_mb=value)


def test_a_slack_folder_file_over_max_file_mb_is_a_dead_letter(tmp_path):
    export = slack_copy(tmp_path, 2 << 20)
    whole = chat_source("slack", export).fetch(None)  # 2 MiB is under the default 64
    assert not whole.dead_letters
    capped = chat_source("slack", export, max_file_mb=1).fetch(None)
    assert [(d.ref, d.reason) for d in capped.dead_letters] == [
        ("lrn-design/2026-11-20.json", "over 1 MiB (raise max_file_mb); skipped")
    ]
    assert len(capped.items) == len(whole.items) - 1  # the rest of the export is read


def test_a_slack_zip_member_over_max_file_mb_is_a_dead_letter(tmp_path):
    export = slack_copy(tmp_path, 2 << 20)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(export.rglob("*.json")):
            zf.write(path, path.relative_to(export).as_posix())
    assert not chat_source("slack", archive).fetch(None).dead_letters
    capped = chat_source("slack", archive, max_file_mb=1).fetch(None)
    assert [(d.ref, d.reason) for d in capped.dead_letters] == [
        ("lrn-design/2026-11-20.json", "over 1 MiB uncompressed (raise max_file_mb); skipped")
    ]


# -- small wording slips ---------------------------------------------------------------------


def test_one_label_is_singular():
    assert too_few(1, 0).startswith("1 label (1 +, 0 -); needs at least ")
    assert too_few(2, 1).startswith("3 labels (2 +, 1 -); ")


def test_a_missing_spacy_pipeline_is_not_suggested_as_its_own_fix():
    spacy = pytest.importorskip("spacy")
    if spacy.util.is_package("en_core_web_sm"):
        pytest.skip("en_core_web_sm is installed here")
    from pln.filters.nlp import load_nlp

    with pytest.raises(ConfigError) as raised:
        load_nlp(NlpConfig(pipeline="en_core_web_sm"))
    message = str(raised.value)
    assert "e.g. en_core_web_sm" not in message
    assert "python -m spacy download en_core_web_sm" in message
    assert "'blank:en'" in message


def test_a_missing_pipeline_folder_is_not_offered_a_download(tmp_path):
    from pln.filters.nlp import load_nlp

    with pytest.raises(ConfigError) as raised:
        load_nlp(NlpConfig(pipeline=str(tmp_path / "no-such-model")))
    assert "is not a folder (a saved pipeline): check the path" in str(raised.value)
    assert "spacy download" not in str(raised.value)
