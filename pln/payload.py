"""The versioned JSON messages of the event-driven mode (Kafka values).

The raw-items topic carries what the ingester read: `{"v": 1, "item": {...}}`, plus the dead
letters and fetch outcomes of each poll (`"dead_letter"`, `"status"`), so the stream can record
them in DuckDB like a batch run does. The curated-items topic carries
`{"v": 1, "item": {...}, "decisions": [...]}`. A reader rejects a version it does not know with a
PayloadError rather than guessing.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pln.errors import PlnError
from pln.record import DeadLetter, Decision, Item, SourceStatus, utc

VERSION = 1
KINDS = ("item", "dead_letter", "status")

Record = Item | DeadLetter | SourceStatus


class PayloadError(PlnError):
    """A message that is not a payload this version of pln can read."""


def encode_item(item: Item) -> bytes:
    return _dump({"v": VERSION, "item": item.to_dict()})


def encode_dead_letter(dead: DeadLetter) -> bytes:
    return _dump({"v": VERSION, "dead_letter": asdict(dead)})


def encode_status(status: SourceStatus) -> bytes:
    return _dump({"v": VERSION, "status": asdict(status)})


def encode_curated(item: Item, decisions: list[Decision]) -> bytes:
    return _dump(
        {"v": VERSION, "item": item.to_dict(), "decisions": [asdict(d) for d in decisions]}
    )


def decode(data: bytes) -> Record:
    """One raw-topic message back into its record."""
    message = _load(data)
    kinds = [k for k in KINDS if k in message]
    if len(kinds) != 1:
        raise PayloadError(
            f"payload must hold exactly one of {', '.join(KINDS)}; got {sorted(message)}"
        )
    body = message[kinds[0]]
    if not isinstance(body, dict):
        raise PayloadError(f"payload '{kinds[0]}' must be an object")
    try:
        if kinds[0] == "item":
            return Item.from_dict(body)
        if kinds[0] == "dead_letter":
            return DeadLetter(**{**body, "at": _time(body.get("at"))})
        return SourceStatus(**{**body, "fetched_at": _time(body.get("fetched_at"))})
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"payload '{kinds[0]}' does not match the record: {exc}") from None


def decode_curated(data: bytes) -> tuple[Item, list[Decision]]:
    message = _load(data)
    try:
        item = Item.from_dict(message["item"])
        decisions = [Decision(**d) for d in message.get("decisions", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"not a curated-item payload: {exc}") from None
    return item, decisions


def _dump(message: dict[str, Any]) -> bytes:
    return json.dumps(
        message, ensure_ascii=False, separators=(",", ":"), default=_json_default
    ).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _load(data: bytes | None) -> dict[str, Any]:
    if data is None:  # a Kafka tombstone (a key with no value): json would blame NoneType
        raise PayloadError("empty record (a tombstone): no value")
    try:
        message = json.loads(data)
    except (ValueError, TypeError) as exc:
        raise PayloadError(f"payload is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise PayloadError(f"payload must be a JSON object, got {type(message).__name__}")
    version = message.get("v")
    if version != VERSION:
        raise PayloadError(
            f"unknown payload version {version!r} (this pln reads version {VERSION}); "
            "upgrade pln or re-ingest with this version"
        )
    return message


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return utc(value)
    return utc(datetime.fromisoformat(value))
