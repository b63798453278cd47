"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpora import CORPORA

REPO = Path(__file__).resolve().parents[1]


pytest_plugins = (
    "conftest_kafka",  # kafka_broker, kafka_topics (loaded once, rewritten)
    "conftest_dask",  # dask_cluster
)


@pytest.fixture
def corpora() -> Path:
    """The shared real-world samples; tests using them skip when the folder is absent."""
    if not CORPORA.is_dir():
        pytest.skip("../shared/corpora is not present")
    return CORPORA


def chat_source(type_name: str, path: Path, base_dir: Path | None = None, **options):
    """A chat source named "chat" reading `path` (relative paths resolve against `base_dir`,
    by default the file's folder)."""
    from pln.config import SourceConfig
    from pln.sources.registry import build_source

    config = SourceConfig(
        name="chat",
        type=type_name,
        options={"path": str(path), **options},
        base_dir=base_dir or path.parent,
        file="pln.yaml",
        key="sources[0]",
    )
    return build_source(config)
