"""The app for any WSGI server: `PLN_CONFIG=pln.yaml granian --interface wsgi --factory
pln.web.wsgi:create_app` (or gunicorn `'pln.web.wsgi:create_app()'`). `pln serve` runs the same
app under waitress and also renders the feeds at start-up and retries journaled labels; in its
granian workers the app also ends its worker when `pln serve` is gone (parent_watch.py)."""

from __future__ import annotations

import os
import sys

from .app import FeedApp


def create_app() -> FeedApp:
    """The app of the config named by $PLN_CONFIG (default pln.yaml); it logs feedback to
    stderr unless $PLN_SERVE_LOG is 0. In a worker of `pln serve` ($PLN_SERVE_PARENT) it ends
    the worker when `pln serve` is gone."""
    from pln.config import load_config

    from .parent_watch import watch_parent

    config = load_config(os.environ.get("PLN_CONFIG", "pln.yaml"))
    quiet = os.environ.get("PLN_SERVE_LOG") == "0"
    log = (lambda line: None) if quiet else _log
    app = FeedApp(config, log=log)
    watch_parent(app.labels.journal, log)  # only in a worker of `pln serve`
    return app


def _log(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)
