"""Where the saved models live and which versions are complete: plain files, no spaCy, so a
run that needs no model (nothing new to curate) can still ask which one is current.

Older pln saved models this one cannot read: one spaCy text classifier per topic in
`models/<topic>/v<N>/` (meta.json, pipeline/), then shared models of earlier formats in
`models/v<N>/` (meta.json with format `pln-shared-lr.v1` or `.v2`, model.npz). They are not
used, and `older_models_note` says so, since a run would otherwise curate without the model
the user trained.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pln.errors import PlnError

MODELS_DIR = "models"
META = "meta.json"
FORMAT = "pln-shared-lr.v3"
_VERSION_RE = re.compile(r"^v(\d+)$")


def models_dir(db_path: str | Path) -> Path:
    """Where the models of the database at db_path live: a `models` folder beside it."""
    return Path(db_path).parent / MODELS_DIR


def saved_versions(root: Path) -> list[tuple[int, Path, dict[str, Any]]]:
    """(version, folder, meta) of every complete saved version, oldest first (folders of
    older formats are ignored: see `older_models_note`)."""
    return [v for v in _complete_versions(root) if v[2].get("format") == FORMAT]


def _complete_versions(root: Path) -> list[tuple[int, Path, dict[str, Any]]]:
    """(version, folder, meta) of every v<N> folder with a meta.json, whatever its format."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _VERSION_RE.match(child.name)
        meta_path = child / META
        if match and meta_path.is_file():
            found.append((int(match.group(1)), child, read_meta(meta_path)))
    return sorted(found, key=lambda v: v[0])


def older_models_note(root: Path, topics: Iterable[str]) -> str:
    """One line for the user when the models under root were all saved by an older pln in a
    format this one does not read (so runs curate with the rules alone), naming the topics
    (of `topics`, the config's) an old per-topic model was trained for; "" when there are
    none, or when a model of today's format is there (older ones are then left-overs).
    Not read safely: the first layout's classifier needs an architecture pln no longer has
    and decided per topic, the earlier shared formats have other features; `pln train`
    makes today's model from the same stored labels in seconds."""
    versions = _complete_versions(root)
    if any(meta.get("format") == FORMAT for _, _, meta in versions):
        return ""
    advice = "run `pln train` again (your labels are in the store)"
    if versions:  # an earlier shared model: it was for every topic
        folder = versions[-1][1]
        return f"the model in {folder} was saved by an older pln and is not used; {advice}"
    found = set(_per_topic_models(root))
    old = [topic for topic in topics if topic in found]  # in the config's order
    if not old:
        return ""
    if len(old) == 1:
        return f"the model for topic {old[0]!r} was saved by an older pln and is not used; {advice}"
    named = ", ".join(repr(name) for name in old)
    return f"the models for topics {named} were saved by an older pln and are not used; {advice}"


def _per_topic_models(root: Path) -> list[str]:
    """The topics with a complete model in the first layout: models/<topic>/v<N>/meta.json
    (the topic folder itself has no meta.json, which tells a topic named like "v2" apart)."""
    if not root.is_dir():
        return []
    return [
        child.name
        for child in root.iterdir()
        if child.is_dir()
        and not child.name.startswith(".")
        and not (child / META).is_file()
        and any(_VERSION_RE.match(v.name) and (v / META).is_file() for v in child.iterdir())
    ]


def version_numbers(root: Path) -> list[int]:
    """The numbers of the v<N> folders under root, complete or not (the next is one higher)."""
    if not root.is_dir():
        return []
    return [int(m.group(1)) for c in root.iterdir() if (m := _VERSION_RE.match(c.name))]


def read_meta(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlnError(f"model {path.parent}: unreadable {META}: {exc}") from None
