"""Kafka for the event-driven mode, built on kafka-python (no Beam here).

- `KafkaSettings`: where the broker and the two topics are, and how long to wait for them.
- `probe_brokers`/`describe`: why a broker cannot be used, in words: cannot resolve, connection
  refused, not a Kafka broker, no answer.
- `ensure_topics`: create the topics, waiting (with clear messages) while the broker is away.
- `ReliableProducer`: sends a batch and returns only when the broker acknowledged every message
  (acks=all), retrying through broker outages of up to `give_up_after` seconds, and when the
  topic still exists (deleted while we ran: created again and the batch sent again).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import (
    BrokerResponseError,
    KafkaError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)

from pln.errors import PlnError

READ_MODES = ("builtin", "xlang")
MAX_BACKOFF = 30.0

Say = Callable[[str], None]
log = logging.getLogger("pln.kafka")


class KafkaUnavailable(PlnError):
    """The broker stayed away longer than the caller was willing to wait."""


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = "localhost:9092"
    raw_topic: str = "pln.raw-items"
    curated_topic: str = "pln.curated-items"  # "" publishes no curated items
    partitions: int = 3  # for topics pln creates
    client_id: str = "pln"
    read: str = "builtin"  # or "xlang": Beam's Java ReadFromKafka (Flink, Dataflow)
    group_id: str = "pln-stream"  # used by the xlang read, which commits offsets to Kafka
    request_timeout_ms: int = 15_000
    give_up_after: float | None = 120.0  # seconds without the broker before failing (None: never)
    on_out_of_range: str = "earliest"  # stored offsets the log no longer has: earliest|latest|fail

    def client_config(self) -> dict:
        return {
            "bootstrap_servers": self.bootstrap.split(","),
            "client_id": self.client_id,
            "request_timeout_ms": self.request_timeout_ms,
            "reconnect_backoff_max_ms": 2_000,
            "bootstrap_timeout_ms": 3_000,  # then our own backoff says what is going on
        }


def describe(exc: BaseException, bootstrap: str | None = None) -> str:
    """A Kafka error as one short line; with `bootstrap`, a connection failure says why
    (cannot resolve, connection refused, not a Kafka broker, no answer)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    name = type(exc).__name__
    text = text.removeprefix(f"{name}: ").removeprefix(name).strip(": ") or name
    if bootstrap and not isinstance(exc, BrokerResponseError):
        why = probe_brokers(bootstrap)  # the client's own words rarely say what is wrong
        if why:
            return why
    if "bootstrap" in text.lower():
        return f"broker unreachable ({text})"
    return text


def probe_brokers(bootstrap: str, timeout: float = 3.0) -> str | None:
    """None when some broker in `bootstrap` answers as Kafka, else why none does (first one)."""
    reasons = []
    for address in filter(None, (a.strip() for a in bootstrap.split(","))):
        reason = probe_broker(address, timeout)
        if reason is None:
            return None
        reasons.append(reason)
    return "; ".join(reasons) or f"no broker address in {bootstrap!r}"


def probe_broker(address: str, timeout: float = 3.0) -> str | None:
    """Resolve, connect and send an ApiVersions request: None if a Kafka broker answers."""
    host, _, port_text = address.rpartition(":")
    host = host.strip("[]") or "localhost"
    try:
        port = int(port_text)
    except ValueError:
        return f"{address!r} is not host:port"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve broker host {host!r} ({exc.strerror})"
    family, kind, proto, _, sockaddr = infos[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            sock.sendall(_API_VERSIONS_REQUEST)
            header = _read_exactly(sock, 8)
    except ConnectionRefusedError:
        return f"connection refused by {host}:{port} (is Kafka running there?)"
    except TimeoutError:
        return f"no Kafka answer from {host}:{port} within {timeout:g} s (is that a Kafka port?)"
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc.strerror or exc})"
    size, correlation = struct.unpack(">ii", header) if len(header) == 8 else (0, -1)
    if correlation != _PROBE_CORRELATION or not 6 <= size <= 1_000_000:
        return f"{host}:{port} answers, but not as a Kafka broker"
    return None


_PROBE_CORRELATION = 0x504C4E  # "PLN"
_PROBE_CLIENT = b"pln-probe"
# ApiVersions (key 18) v0: header = api key, version, correlation id, client id; empty body.
_API_VERSIONS_REQUEST = (lambda body: struct.pack(">i", len(body)) + body)(
    struct.pack(">hhih", 18, 0, _PROBE_CORRELATION, len(_PROBE_CLIENT)) + _PROBE_CLIENT
)


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


class Backoff:
    """Doubling waits up to MAX_BACKOFF, with one clear line per failed attempt; past
    `deadline` seconds of failures it raises KafkaUnavailable instead of waiting again."""

    def __init__(
        self,
        what: str,
        say: Say,
        first: float = 0.5,
        deadline: float | None = None,
        bootstrap: str | None = None,
    ):
        self.what, self.say, self.delay = what, say, first
        self.first, self.window, self.bootstrap = first, deadline, bootstrap
        self.deadline: float | None = None
        self.failures = 0

    def wait(self, exc: BaseException) -> None:
        self.failures += 1
        now = time.monotonic()
        if self.deadline is None and self.window is not None:
            self.deadline = now + self.window
        why = describe(exc, self.bootstrap)
        if self.deadline is not None and now + self.delay > self.deadline:
            raise KafkaUnavailable(
                f"{self.what}: {why}; gave up after {self.window:g} s without the broker"
            ) from None
        self.say(f"{self.what}: {why}; retrying in {self.delay:g}s")
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, MAX_BACKOFF)

    def succeeded(self) -> None:
        if self.failures:
            self.say(f"{self.what}: ok again")
        self.failures, self.delay, self.deadline = 0, self.first, None


def ensure_topics(
    settings: KafkaSettings, topics: Sequence[str], say: Say, wait: float | None = None
) -> None:
    """Create the topics that do not exist yet; waits for the broker (forever unless `wait`)."""
    backoff = Backoff(
        f"kafka {settings.bootstrap}",
        say,
        deadline=settings.give_up_after if wait is None else wait,
        bootstrap=settings.bootstrap,
    )
    while True:
        try:
            admin = KafkaAdminClient(**settings.client_config())
            break
        except KafkaError as exc:
            backoff.wait(exc)
    try:
        for topic in filter(None, topics):
            while True:
                try:
                    admin.create_topics([NewTopic(topic, settings.partitions, 1)])
                    break
                except TopicAlreadyExistsError:
                    break
                except KafkaError as exc:
                    backoff.wait(exc)
    finally:
        admin.close()
    backoff.succeeded()


class ReliableProducer:
    """`send_all` returns once the broker acknowledged every message (acks=all).

    Messages not acknowledged are sent again after a backoff, so a caller that advances a
    cursor or commits offsets after `send_all` never loses a message; it may duplicate one,
    which is harmless because keys are stable ids and every sink upserts.
    """

    def __init__(self, settings: KafkaSettings, say: Say, flush_timeout: float = 10.0):
        self.settings, self.say, self.flush_timeout = settings, say, flush_timeout
        self._producer: KafkaProducer | None = None

    def _connect(self, backoff: Backoff) -> KafkaProducer:
        while self._producer is None:
            try:
                self._producer = KafkaProducer(
                    **self.settings.client_config(),
                    acks="all",
                    # Idempotence needs a producer id from the broker; after a broker restart
                    # kafka-python retried InitProducerId for ever. Repeats are harmless here.
                    enable_idempotence=False,
                    linger_ms=5,
                    retries=5,
                    max_in_flight_requests_per_connection=1,
                    delivery_timeout_ms=max(30_000, self.settings.request_timeout_ms + 5_000),
                    compression_type=None,
                )
            except KafkaError as exc:
                backoff.wait(exc)
        return self._producer

    def send_all(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Send (key, value) pairs to `topic` and wait until all are acknowledged."""
        pending = list(messages)
        backoff = Backoff(
            f"kafka {self.settings.bootstrap} ({topic})",
            self.say,
            deadline=self.settings.give_up_after,
            bootstrap=self.settings.bootstrap,
        )
        recreated = 0
        while pending:
            producer = self._connect(backoff)
            futures = [producer.send(topic, key=k, value=v) for k, v in pending]
            error: BaseException | None = None
            while not all(f.is_done for f in futures):
                try:
                    producer.flush(timeout=self.flush_timeout)
                except KafkaError as exc:  # still waiting for the broker; keep the messages
                    error = exc
                    backoff.wait(exc)
            failed = [(m, f.exception) for m, f in zip(pending, futures, strict=True) if f.failed()]
            if self._topic_gone(topic, backoff):  # what went to it is gone: send it all again
                if recreated:  # gone again at once: wait, and give up in time
                    backoff.wait(UnknownTopicOrPartitionError(f"topic {topic} is gone again"))
                self._recreate(topic, len(pending))
                recreated += 1
                continue
            pending = [m for m, _ in failed]
            if failed:
                backoff.wait(failed[0][1] or error or KafkaError("send failed"))
        backoff.succeeded()

    def _topic_gone(self, topic: str, backoff: Backoff) -> bool:
        """Whether `topic` no longer exists (deleted while we ran). Asked after every batch: a
        broker may acknowledge messages to a deleted topic and drop them (Tansu does), and
        Kafka without auto-creation refuses them until the sender gives up. (A client per ask:
        one kept open would keep its IO thread after an owner that never calls `close`; it
        costs a connection and a metadata request a batch, about 2 ms on a local broker.)"""
        while True:
            try:
                admin = KafkaAdminClient(**self.settings.client_config())
                try:
                    [found] = admin.describe_topics([topic])
                finally:
                    admin.close()
                return found.get("error_code") == UnknownTopicOrPartitionError.errno
            except KafkaError as exc:
                backoff.wait(exc)

    def _recreate(self, topic: str, count: int) -> None:
        self.say(
            f"kafka {self.settings.bootstrap}: topic {topic} is gone (deleted while pln ran); "
            f"creating it again and sending {count:,} message{'s' * (count != 1)} again"
        )
        ensure_topics(self.settings, [topic], self.say)
        producer, self._producer = self._producer, None  # its metadata is of the old topic
        if producer is not None:
            with contextlib.suppress(KafkaError):
                producer.close(timeout=5)

    def close(self) -> None:
        """Close the connection. Messages the broker has not acknowledged by then (it went
        away, say) are dropped with a warning: `send_all` never returned for them, so the
        caller did not move its cursor and sends them again when it starts next."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=5)
        except KafkaError as exc:
            # close() flushes first and raises when that times out (a broker that is gone),
            # before it stops its sender thread; it would raise again when garbage-collected.
            sender = getattr(producer, "_sender", None)
            if sender is not None:
                sender.force_close()  # drops what is pending and stops reconnecting
                sender.join(1)
            with contextlib.suppress(KafkaError):
                producer.close(timeout=0)
            self.say(
                f"kafka {self.settings.bootstrap}: closed with messages not acknowledged "
                f"({exc}); they are sent again on the next start"
            )
