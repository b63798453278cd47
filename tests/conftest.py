"""Shared fixtures (plain helper functions are in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpora import CORPORA
from tests.httpserver import RecordedServer

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


@pytest.fixture
def server():
    """A RecordedServer on 127.0.0.1 (tests/httpserver.py) for this test, closed after it."""
    with RecordedServer() as recorded:
        yield recorded
