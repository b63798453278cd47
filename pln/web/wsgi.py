"""The app for any WSGI server: `PLN_CONFIG=pln.yaml granian --interface wsgi --factory
pln.web.wsgi:create_app` (or gunicorn `'pln.web.wsgi:create_app()'`). `pln serve` runs the same
app under waitress and also renders the feeds at start-up and retries journaled labels."""

from __future__ import annotations

import os

from .app import FeedApp


def create_app() -> FeedApp:
    from pln.config import load_config

    return FeedApp(load_config(os.environ.get("PLN_CONFIG", "pln.yaml"), check_sources=False))
