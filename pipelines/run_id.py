"""Run ids: sortable by start time, unique across processes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
