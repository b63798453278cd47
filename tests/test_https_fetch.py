"""Feeds over TLS, as most blogs serve them: a real HTTPS server on 127.0.0.1 with a
certificate made here by `openssl`, trusted through SSL_CERT_FILE (the standard OpenSSL
variable, which `ssl.create_default_context` reads). Each fetch runs in a fresh interpreter,
since the process's connection pools are made once with the trust store of their time."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from httpserver import AnsweringServer

FEED = (Path(__file__).parent / "fixtures" / "feeds" / "rss2.xml").read_bytes()

FETCH = """
import json, sys, time
from pln.errors import SourceError
from pln.sources.http import HttpFetcher
started = time.monotonic()
try:
    r = HttpFetcher("tls", timeout=5, deadline=float(sys.argv[2])).get(sys.argv[1])
    out = {"status": r.status, "bytes": len(r.body)}
except SourceError as exc:
    out = {"error": str(exc)}
out["seconds"] = time.monotonic() - started
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    return context


@contextlib.contextmanager
def https_feed(certificate):
    """An HTTPS server answering every GET with the feed."""
    server = AnsweringServer(
        lambda path: (200, {"Content-Type": "application/rss+xml"}, FEED),
        tls=server_context(certificate),
    )
    try:
        yield f"{server.base}/feed.xml"
    finally:
        server.close()


@contextlib.contextmanager
def https_dripping_headers(certificate):
    """An HTTPS server that sends a status line, then its headers a byte every 0.1 s."""
    listener = socket.create_server(("127.0.0.1", 0))
    context = server_context(certificate)
    closing = threading.Event()

    def drip(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
            while not closing.wait(0.1):
                tls.sendall(b"a")

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/feed.xml"
    finally:
        closing.set()
        listener.close()


def fetch(url: str, cert: Path | None, deadline: float = 10) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1"
    if cert is not None:
        env["SSL_CERT_FILE"] = str(cert)
    done = subprocess.run(
        [sys.executable, "-c", FETCH, url, str(deadline)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_feed_over_https_is_fetched_and_an_untrusted_certificate_is_one_line(certificate):
    with https_feed(certificate) as url:
        assert fetch(url, certificate[0]) | {"seconds": 0} == {
            "status": 200,
            "bytes": len(FEED),
            "seconds": 0,
        }
        refused = fetch(url, None)
    assert "TLS certificate of 127.0.0.1 not trusted" in refused["error"]
    assert "\n" not in refused["error"]


def test_headers_dripped_over_tls_end_at_the_deadline(certificate):
    with https_dripping_headers(certificate) as url:
        started = time.monotonic()
        result = fetch(url, certificate[0], deadline=1.5)
    # It ends (without the deadline it went on for hours); how fast is for bench/.
    assert result["error"] == f"source 'tls': gave up on {url} after 1.5 s (deadline)", result
    assert time.monotonic() - started < 30
