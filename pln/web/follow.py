"""`pln serve` left running follows its config file: a topic added, removed or retitled, or a
new site title, shows without a restart. Each app (every granian worker) swaps its config
within 2 s of an edit; the `pln serve` process renders the feeds again once (`FeedRefresher`),
so a new topic's feeds exist and a removed topic's answer 410 Gone.

Where the files are and the address (outputs.duckdb, feeds_dir, base_url) are fixed while it
runs: an edit of those is said once and needs a restart.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from pln.config import Config
from pln.pipelines.config_watch import EVERY, ConfigWatch
from pln.progress import counted

FIXED = ("duckdb", "feeds_dir", "base_url")  # outputs keys that need a restart


def served_as(edited: Config, serving: Config) -> tuple[Config, list[str]]:
    """`edited` with the fixed outputs of the config being served, and the fixed keys the
    edit changed (they wait for a restart)."""
    fixed = {key: getattr(serving.outputs, key) for key in FIXED}
    changed = [f"outputs.{k}" for k, v in fixed.items() if getattr(edited.outputs, k) != v]
    return replace(edited, outputs=replace(edited.outputs, **fixed)), changed


def refresh_feeds(config: Config, wait: float) -> str:
    """Render the feeds from the store unless they are up to date, as a run does (the feeds
    of topics taken out of the config are removed), so a fresh config (title, base_url,
    digests, topics) shows at once. Returns a note for the start-up summary."""
    from pln.sinks.feeds_state import render_feeds_if_changed
    from pln.sinks.store import Store, StoreBusy

    db = config.outputs.duckdb
    if not db.is_file():
        return f"no database yet at {db}: feeds appear after the first `pln run`"
    try:
        with Store(db, read_only=True, wait=wait) as store:
            if store.db.snapshot_age is not None:  # its snapshot may be older than its feeds
                return f"a stream is writing {db}: it renders the feeds"
            done = render_feeds_if_changed(store, config)
    except StoreBusy as exc:
        return f"serving the feeds as last rendered ({exc})"
    what = "rendered" if done.rendered else "up to date:"
    note = f"{what} {counted(len(done.paths), 'file')} from {db}"
    if done.removed:
        note += f"; removed the feeds of {', '.join(done.removed)}: no longer in the config"
    return note


class ConfigFollower:
    """`edited()`: the config to serve from now on, when the file changed (else None). Quiet:
    the `pln serve` process says what an edit did, once, not every worker."""

    def __init__(self, config: Config):
        self.serving = config
        self._watch = ConfigWatch(config, say=lambda line: None)
        self._lock = threading.Lock()

    def edited(self) -> Config | None:
        if not self._lock.acquire(blocking=False):  # another request is looking already
            return None
        try:
            edited = self._watch.changed()
            if edited is None:
                return None
            self.serving, _ = served_as(edited, self.serving)
            return self.serving
        finally:
            self._lock.release()


class FeedRefresher:
    """In the `pln serve` process: on a valid edit, render the feeds again and say so; on an
    invalid one, say why nothing changes."""

    def __init__(self, config: Config, wait: float, say, every: float = EVERY):
        self.serving, self.wait, self.say = config, wait, say
        self._watch = ConfigWatch(config, say=say, every=every)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pln-config-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._watch.every):
            try:
                self.look()
            except Exception as exc:  # keep serving: the next edit is looked at again
                self.say(f"{self.serving.path} was edited, but the feeds were not rendered: {exc}")

    def look(self) -> str | None:
        """Follow an edit if there is one; returns what was said."""
        edited = self._watch.changed()
        if edited is None:
            return None
        self.serving, restart = served_as(edited, self.serving)
        topics = ", ".join(t.id for t in edited.topics)
        line = (
            f"{edited.path} was edited: serving {topics}; {refresh_feeds(self.serving, self.wait)}"
        )
        if restart:
            line += f" ({', '.join(restart)} changed: restart pln serve to use them)"
        self.say(line)
        return line
