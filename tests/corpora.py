"""Where the shared real-world samples live (../shared/corpora); tests skip when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def corpus(*parts: str) -> Path:
    """The sample at CORPORA/parts, or skip the test when it is not there."""
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus not available: {path}")
    return path
