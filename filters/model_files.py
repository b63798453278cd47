"""Where the saved models live and which versions are complete: plain files, no spaCy, so a
run that needs no model (nothing new to curate) can still ask which one is current."""

from __future__ import annotations

import json
import re
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
    older formats are ignored)."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _VERSION_RE.match(child.name)
        meta_path = child / META
        if match and meta_path.is_file():
            meta = read_meta(meta_path)
            if meta.get("format") == FORMAT:
                found.append((int(match.group(1)), child, meta))
    return sorted(found, key=lambda v: v[0])


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
