"""The ingester: polls every source on its own interval and produces what it reads to Kafka.

Each poll sends the new items (key = item id; of a feed, only the entries new or changed since
they were last sent: sent_items.py), the dead letters and a fetch status to the raw-items
topic, waits until the broker acknowledged all of them (acks=all) and only then advances the
source's cursor in the ingester's own state file. A crash or a broker outage
therefore repeats a poll rather than losing one; repeats are harmless because item ids are
stable and every sink upserts. The DuckDB file is not touched: it belongs to the stream.

The ingester is left running, so it follows its config file (ConfigWatch): a source added to
it is polled at once, a removed one is no longer polled, and a source whose options changed
(a new URL, another account) starts afresh. A cursor is only ever used with the options it was
made with (`SourceState.fingerprint`), also across restarts: an API cursor holding the old
account's user id or a feed's permanent redirect would otherwise read the wrong thing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pln import payload, progress
from pln.atomic import write_atomic
from pln.backoff import next_poll_delay
from pln.config import Config, SourceConfig
from pln.errors import PlnError
from pln.record import SourceStatus, lasting
from pln.sources.base import FetchResult
from pln.sources.fetch_pool import FetchPool
from pln.sources.registry import fetch_once

from .config_watch import ConfigWatch
from .kafka_io import KafkaSettings, ReliableProducer, ensure_topics
from .sent_items import SentItems

STATE_VERSION = 1

log = logging.getLogger("pln.ingest")


@dataclass
class SourceState:
    cursor: dict[str, Any] | None = None
    next_poll_at: float = 0.0  # unix time
    errors: int = 0  # consecutive failed fetches
    fingerprint: str | None = None  # SourceConfig.fingerprint the cursor was made with


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
    def __init__(
        self,
        config: Config,
        settings: KafkaSettings,
        state_path: Path,
        say=progress.say,
        watch: ConfigWatch | None = None,
    ):
        self.settings, self.say, self.watch = settings, say, watch
        self.state = IngestState.load(state_path)
        self.producer = ReliableProducer(settings, say=log.warning)
        self.sent: Counter[str] = Counter()  # polls, failed, items, unchanged, dead letters
        self.sent_items = SentItems()
        for name in self._use(config):
            self.say(f"… {name}: config changed, reading it again")

    def _use(self, config: Config) -> list[str]:
        """Poll `config`'s enabled sources from now on. A source whose options differ from
        those its cursor was made with starts afresh (no cursor, no backoff): their names."""
        self.config = config
        self.sources = [s for s in config.sources if s.enabled]
        self.sent_items.keep_only(s.name for s in self.sources)
        edited = []
        for source in self.sources:
            state = self.state.of(source.name)
            if state.fingerprint not in (None, source.fingerprint):  # keeps how it names items
                state = self.state.sources[source.name] = SourceState(lasting(state.cursor))
                edited.append(source.name)
            state.fingerprint = source.fingerprint
        return edited

    def run(self, stop_after: float | None = None, stop: threading.Event | None = None) -> int:
        """Poll due sources until stopped (Ctrl-C, `stop_after` seconds, or `stop` set);
        returns the number of polls made. Due sources are fetched at once, as many as
        `fetch.concurrency` (`per_host` of one host), each within `fetch.source_deadline`:
        a slow source never holds up the others."""
        ensure_topics(self.settings, [self.settings.raw_topic], say=log.warning)
        names = ", ".join(s.name for s in self.sources)
        self.say(f"ingest: {_sources(len(self.sources))} ({names}) -> {self.settings.raw_topic}")
        deadline = time.monotonic() + stop_after if stop_after else None
        fetch = self.config.fetch
        pool = FetchPool(fetch.concurrency, fetch.per_host, fetch.source_deadline)
        in_flight: set[str] = set()
        started = time.monotonic()
        try:
            while deadline is None or time.monotonic() < deadline:
                if stop is not None and stop.is_set():
                    break
                edited = self.watch.changed() if self.watch else None
                if edited is not None:
                    self._follow(edited)
                now = time.time()
                for source in self.sources:
                    state = self.state.of(source.name)
                    if source.name not in in_flight and state.next_poll_at <= now:
                        pool.add(source, state.cursor)
                        in_flight.add(source.name)
                wait = min(1.0, max(0.05, self._next_due(in_flight) - time.time()))
                if len(pool):
                    finished = pool.finished(timeout=wait)
                else:
                    time.sleep(wait)
                    finished = []
                in_flight.difference_update(f.config.name for f in finished)
                if finished:
                    self._publish([(f.config, f.result, f.status) for f in finished])
        finally:
            pool.close()
            self.producer.close()
            self.say(self.summary(time.monotonic() - started))
        return self.sent["polls"]

    def summary(self, seconds: float) -> str:
        sent = self.sent
        return (
            f"ingest stopped after {seconds:.0f} s: {progress.counted(sent['polls'], 'poll')} "
            f"({sent['failed']:,} failed) sent {progress.counted(sent['items'], 'item')} and "
            f"{progress.counted(sent['dead letters'], 'dead letter')} to "
            f"{self.settings.raw_topic}"
            + (
                f" ({progress.counted(sent['unchanged'], 'unchanged item')} not sent again)"
                if sent["unchanged"]
                else ""
            )
        )

    def _follow(self, config: Config) -> None:
        """Go on with an edited config, and say in one line what changed for the sources."""
        before = {s.name: s for s in self.sources}
        changed = self._use(config)
        now = time.time()
        for source in self.sources:  # a shorter interval applies at once, not after the old one
            state, old = self.state.of(source.name), before.get(source.name)
            if old is not None and source.interval < old.interval and not state.errors:
                state.next_poll_at = min(state.next_poll_at, now + source.interval)
        self.state.save()
        after = {s.name for s in self.sources}
        parts = [
            f"{what} {', '.join(names)}"
            for what, names in (
                ("added", sorted(after - set(before))),
                ("removed", sorted(set(before) - after)),
                ("changed (read again)", changed),
            )
            if names
        ]
        detail = f" ({'; '.join(parts)})" if parts else ""
        if self.sources:
            self.say(f"{config.path} was edited: ingesting {_sources(len(self.sources))}{detail}")
        else:
            self.say(f"{config.path} was edited: no enabled sources left{detail}; waiting")

    def _next_due(self, in_flight: set[str]) -> float:
        waiting = [s for s in self.sources if s.name not in in_flight]
        if not waiting:
            return time.time() + 1.0
        return min(self.state.of(s.name).next_poll_at for s in waiting)

    def poll(self, source: SourceConfig) -> SourceStatus:
        """Fetch one source now, produce what it gave, then advance its cursor."""
        result, status = fetch_once(source, self.state.of(source.name).cursor)
        self._publish([(source, result, status)])
        return status

    def _publish(self, fetches: list[tuple[SourceConfig, FetchResult, SourceStatus]]) -> None:
        """Produce the fetches' items, dead letters and statuses; once the broker acknowledged
        them all, advance the sources' cursors and save them (one write for all)."""
        now = time.time()
        messages, sending = [], []
        for source, result, status in fetches:
            items, digests = (
                self.sent_items.unsent(source, result.items, now) if status.ok else ([], {})
            )
            messages += self._messages(source, result, status, items)
            sending.append((items, digests))
        self.producer.send_all(self.settings.raw_topic, messages)
        for (source, result, status), (items, digests) in zip(fetches, sending, strict=True):
            moved = self._advance(source, result, status, items)
            if moved and status.ok and not status.not_modified:  # a failure keeps what was sent
                self.sent_items.note_sent(source, digests, (it.id for it in items), now)
        self.state.save()

    def _messages(
        self, source: SourceConfig, result: FetchResult, status: SourceStatus, items: list
    ):
        """The poll's messages: `items` (those of `result` not sent before, unchanged), its
        dead letters and its status."""
        messages = []
        if status.ok:
            messages = [(it.id.encode(), payload.encode_item(it)) for it in items]
            messages += [
                (d.id.encode(), payload.encode_dead_letter(d)) for d in result.dead_letters
            ]
            if items or result.dead_letters:
                n_dead = len(result.dead_letters)
                dead = f", {progress.counted(n_dead, 'dead letter')}" if n_dead else ""
                unchanged = len(result.items) - len(items)
                more = f" ({unchanged:,} more unchanged, not sent again)" if unchanged else ""
                self.say(f"✓ {source.name}: {progress.counted(len(items), 'item')}{more}{dead}")
        else:
            log.warning("%s (retrying with backoff)", status.error)
        messages.append((f"status:{source.name}".encode(), payload.encode_status(status)))
        return messages

    def _advance(
        self, source: SourceConfig, result: FetchResult, status: SourceStatus, items: list
    ) -> bool:
        """Count an acknowledged poll (`items`: those sent) and move its source's cursor: only
        when the source still reads what this fetch read (an edit during the fetch starts it
        afresh). Whether it moved."""
        self.sent.update(
            polls=1,
            failed=not status.ok,
            items=len(items),
            unchanged=len(result.items) - len(items) if status.ok else 0,
            **{"dead letters": len(result.dead_letters) if status.ok else 0},
        )
        state = self.state.of(source.name)
        if state.fingerprint != source.fingerprint:
            return False
        if status.ok:
            state.cursor, state.errors = status.cursor, 0
        else:
            state.errors += 1
        delay = next_poll_delay(source.interval, state.errors, status.retry_after)
        state.next_poll_at = time.time() + delay
        return True


def _sources(n: int) -> str:
    return f"{n} source" + "s" * (n != 1)


def run_ingest(
    config: Config,
    settings: KafkaSettings,
    state_path: Path | None = None,
    *,
    stop_after: float | None = None,
    say=progress.say,
    follow_config: bool = False,
) -> int:
    """Ingest until stopped; with `follow_config`, edits of the config file apply as it runs."""
    if not any(s.enabled for s in config.sources):
        raise PlnError(f"{config.path}: no enabled sources to ingest")
    watch = ConfigWatch(config, say=say) if follow_config else None
    ingester = Ingester(config, settings, state_path or default_state_path(config), say, watch)
    return ingester.run(stop_after=stop_after)
