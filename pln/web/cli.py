"""The `pln serve` command: render the feeds once, then serve them until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
from urllib.parse import urlsplit

from pln.config import Config
from pln.errors import UsageError

from .defaults import BACKLOG, DEFAULT_PORT, THREADS, WORKERS
from .follow import FeedRefresher, refresh_feeds


def served_urls(config: Config, url: str) -> dict:
    from pln.sinks.feeds import FEED_KINDS, feed_filename

    return {
        "url": url,
        "index": url,
        "opml": url + "index.opml",
        "feeds": {
            t.id: {kind: url + feed_filename(t.id, kind) for kind in FEED_KINDS}
            for t in config.topics
        },
    }


def format_startup(config: Config, url: str, note: str, server_name: str) -> str:
    urls = served_urls(config, url)
    lines = [f"Serving {config.outputs.title} at {urls['url']} ({server_name})", f"  {note}"]
    width = max((len(t) for t in urls["feeds"]), default=0)
    for topic, feeds in urls["feeds"].items():
        lines.append(f"  {topic:<{width}}  {feeds['rss']}  (also .atom.xml, .json)")
    lines.append(f"  {'OPML':<{width}}  {urls['opml']}")
    lines.append(f"  feedback links record labels in {config.outputs.duckdb} (table labels)")
    base = config.outputs.base_url + "/"
    if base != urls["url"]:
        lines.append(f"  note: outputs.base_url is {base}: links inside the feeds point there")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def add_serve_command(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve", help="serve the topic feeds, OPML and an index page over HTTP, with feedback"
    )
    serve.add_argument("-c", "--config", default="pln.yaml", help="config file (default: pln.yaml)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=_port,
        help=f"port (default: the port of outputs.base_url, else {DEFAULT_PORT}; 0: any free)",
    )
    serve.add_argument(
        "--server",
        choices=("granian", "waitress"),
        default="granian",
        help="HTTP server: granian (default; worker processes, fastest in bench/bench_serve.py) "
        "or waitress (one process)",
    )
    serve.add_argument(
        "--workers",
        type=_at_least_one,
        default=WORKERS,
        help=f"granian worker processes ({WORKERS})",
    )
    serve.add_argument(
        "--threads",
        type=_at_least_one,
        help=f"threads answering requests (per granian worker: default 2 per core + 1; "
        f"waitress: {THREADS})",
    )
    serve.add_argument(
        "--backlog", type=int, default=BACKLOG, help=f"listen backlog (default: {BACKLOG})"
    )
    serve.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    serve.add_argument("--json", action="store_true", help="print the start-up summary as JSON")
    serve.set_defaults(func=cmd_serve)


def _port(text: str) -> int:
    """A `--port` argument: 0 (any free port) to 65535; argparse says otherwise in one line."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535 (0: any free port), got {text!r}")
    return value


def _at_least_one(text: str) -> int:
    """A `--workers` or `--threads` argument: a whole number from 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def check_host(host: str, port: int) -> None:
    """A `--host` that names no address (a typo, an unknown name) is the user's mistake: one
    line, exit 2, from either server (waitress would say only 'Invalid host/port')."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:  # gaierror; UnicodeError: a name IDNA refuses
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"--host {host}: no address to listen on: {reason}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    from pln.sinks.store import lock_wait_default
    from pln.sources.registry import load_checked_config as load_config

    config = load_config(args.config)
    port = args.port
    if port is None:
        port = urlsplit(config.outputs.base_url).port or DEFAULT_PORT
    check_host(args.host, port)
    talk = not (args.quiet or args.json)

    def log(line: str) -> None:
        if talk:
            print(f"  {line}", file=sys.stderr, flush=True)

    note = refresh_feeds(config, lock_wait_default())
    if args.server == "granian":
        from .granian_server import GranianServer

        server = GranianServer(
            config,
            args.host,
            port,
            workers=args.workers,
            threads=args.threads,
            backlog=args.backlog,
            quiet=not talk,
            log=log,
        )
    else:
        from .server import FeedServer

        threads = args.threads or THREADS
        server = FeedServer(config, args.host, port, threads=threads, backlog=args.backlog, log=log)
    if args.json:
        summary = {
            **served_urls(config, server.url),
            "note": note,
            "database": str(config.outputs.duckdb),
            "server": args.server,
        }
        print(json.dumps(summary, indent=2), flush=True)
    elif talk:
        print(format_startup(config, server.url, note, args.server), flush=True)
    if args.server == "waitress":
        signal.signal(signal.SIGTERM, _interrupt)
    server.labels.start()
    refresher = FeedRefresher(config, lock_wait_default(), log)
    refresher.start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        refresher.stop()
        server.labels.stop()
        server.close()
    if talk:
        print(f"stopped; {server.traffic()}", flush=True)
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
