"""The ingester: polls every source on its own interval and produces what it reads to Kafka.

Each poll sends the new items (key = item id), the dead letters and a fetch status to the
raw-items topic, waits until the broker acknowledged all of them (acks=all) and only then
advances the source's cursor in the ingester's own state file. A crash or a broker outage
therefore repeats a poll rather than losing one; repeats are harmless because item ids are
stable and every sink upserts. The DuckDB file is not touched: it belongs to the stream.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pln import payload, progress
from pln.atomic import write_atomic
from pln.backoff import next_poll_delay
from pln.config import Config, SourceConfig
from pln.errors import PlnError
from pln.record import SourceStatus
from pln.sources.registry import fetch_once

from .kafka_io import KafkaSettings, ReliableProducer, ensure_topics

STATE_VERSION = 1

log = logging.getLogger("pln.ingest")


@dataclass
class SourceState:
    cursor: dict[str, Any] | None = None
    next_poll_at: float = 0.0  # unix time
    errors: int = 0  # consecutive failed fetches


@dataclass
class IngestState:
    """The ingester's cursors: a small JSON file, replaced atomically on every save."""

    path: Path
    sources: dict[str, SourceState] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> IngestState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise PlnError(
                f"ingest state {path}: cannot read it ({exc}); fix or remove it"
            ) from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise PlnError(f"ingest state {path}: not a version {STATE_VERSION} state file")
        sources = {name: SourceState(**s) for name, s in data.get("sources", {}).items()}
        return cls(path, sources)

    def of(self, name: str) -> SourceState:
        return self.sources.setdefault(name, SourceState())

    def save(self) -> None:
        data = {
            "version": STATE_VERSION,
            "sources": {name: vars(s) for name, s in sorted(self.sources.items())},
        }
        text = json.dumps(data, indent=1, sort_keys=True)
        write_atomic(self.path, text.encode("utf-8"), mode=0o600, fsync=True)


def default_state_path(config: Config) -> Path:
    return config.outputs.duckdb.parent / "ingest-state.json"


class Ingester:
    def __init__(self, config: Config, settings: KafkaSettings, state_path: Path, say=progress.say):
        self.config, self.settings, self.say = config, settings, say
        self.sources = [s for s in config.sources if s.enabled]
        self.state = IngestState.load(state_path)
        self.producer = ReliableProducer(settings, say=log.warning)

    def run(self, stop_after: float | None = None, max_rounds: int | None = None) -> int:
        """Poll due sources until stopped; returns the number of polls made."""
        ensure_topics(self.settings, [self.settings.raw_topic], say=log.warning)
        names = ", ".join(s.name for s in self.sources)
        self.say(f"ingest: {len(self.sources)} sources ({names}) -> {self.settings.raw_topic}")
        deadline = time.monotonic() + stop_after if stop_after else None
        polls = rounds = 0
        try:
            while deadline is None or time.monotonic() < deadline:
                due = [s for s in self.sources if self.state.of(s.name).next_poll_at <= time.time()]
                for source in due:
                    self.poll(source)
                    polls += 1
                if due:
                    rounds += 1
                    if max_rounds is not None and rounds >= max_rounds:
                        break
                time.sleep(min(1.0, max(0.05, self._next_due() - time.time())))
        finally:
            self.producer.close()
        return polls

    def _next_due(self) -> float:
        return min(self.state.of(s.name).next_poll_at for s in self.sources)

    def poll(self, source: SourceConfig) -> SourceStatus:
        """Fetch one source, produce what it gave, then advance its cursor."""
        state = self.state.of(source.name)
        status, messages = self._fetch(source, state.cursor)
        messages.append((f"status:{source.name}".encode(), payload.encode_status(status)))
        self.producer.send_all(self.settings.raw_topic, messages)
        # Only now, with every message acknowledged, does the cursor move.
        if status.ok:
            state.cursor, state.errors = status.cursor, 0
        else:
            state.errors += 1
        delay = next_poll_delay(source.interval, state.errors, status.retry_after)
        state.next_poll_at = time.time() + delay
        self.state.save()
        return status

    def _fetch(
        self, source: SourceConfig, cursor
    ) -> tuple[SourceStatus, list[tuple[bytes, bytes]]]:
        result, status = fetch_once(source, cursor)
        if not status.ok:
            log.warning("%s (retrying with backoff)", status.error)
            return status, []
        messages = [(it.id.encode(), payload.encode_item(it)) for it in result.items]
        messages += [(d.id.encode(), payload.encode_dead_letter(d)) for d in result.dead_letters]
        if result.items or result.dead_letters:
            dead = f", {len(result.dead_letters)} dead letters" if result.dead_letters else ""
            self.say(f"✓ {source.name}: {len(result.items):,} items{dead}")
        return status, messages


def run_ingest(
    config: Config,
    settings: KafkaSettings,
    state_path: Path | None = None,
    *,
    stop_after: float | None = None,
    say=progress.say,
) -> int:
    if not any(s.enabled for s in config.sources):
        raise PlnError(f"{config.path}: no enabled sources to ingest")
    ingester = Ingester(config, settings, state_path or default_state_path(config), say)
    return ingester.run(stop_after=stop_after)
