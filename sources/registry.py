"""Source types by name. Modules are imported lazily so a config only loads what it uses."""

from __future__ import annotations

import importlib
from pathlib import Path

from pln.config import Config, ConfigError, SourceConfig, load_config
from pln.errors import PlnError
from pln.record import SourceStatus
from pln.sources.base import FetchResult, Source

# type name -> "module:Class" under pln.sources
SOURCE_TYPES: dict[str, str] = {
    "rss": "rss:FeedSource",
    "twitter_v2": "twitter:TwitterV2FileSource",
    "twitter_archive": "twitter_archive:TwitterArchiveSource",
    "twitter_api": "twitter_api:TwitterApiSource",
    "mastodon": "mastodon:MastodonSource",
    "bluesky": "bluesky:BlueskySource",
    "hashtag_chat": "hashtag_chat:HashtagChatSource",
    "slack": "slack:SlackSource",
    "discord": "discord:DiscordSource",
    "whatsapp": "whatsapp:WhatsAppSource",
    "zoom_chat": "zoom:ZoomChatSource",
    "irc": "irc:IrcLogSource",
}


def source_class(type_name: str) -> type[Source]:
    module_name, class_name = SOURCE_TYPES[type_name].split(":")
    module = importlib.import_module(f"pln.sources.{module_name}")
    return getattr(module, class_name)


def build_source(config: SourceConfig) -> Source:
    """Instantiate the source for a config entry; raises ConfigError for unknown types/options."""
    if config.type not in SOURCE_TYPES:
        known = ", ".join(sorted(SOURCE_TYPES))
        raise ConfigError(
            config.file,
            f"{config.key}.type",
            f"unknown source type {config.type!r} (known: {known})",
        )
    return source_class(config.type)(config)


def load_checked_config(path: str | Path) -> Config:
    """`load_config`, then every source's own options, checked by its class."""
    config = load_config(path)
    for source in config.sources:
        build_source(source)
    return config


def fetch_once(config: SourceConfig, cursor: dict | None) -> tuple[FetchResult, SourceStatus]:
    """Fetch a source once, never raising for it: a failure becomes a status with the one-line
    error, keeping the old cursor (so the next fetch retries from the same place) and the
    server's Retry-After."""
    try:
        result = build_source(config).fetch(cursor)
    except PlnError as exc:
        return FetchResult(cursor=cursor), failed_status(config, str(exc), cursor, exc)
    except Exception as exc:  # a bug or an unforeseen input: keep the other sources going
        message = f"source '{config.name}': unexpected {type(exc).__name__}: {exc}"
        return FetchResult(cursor=cursor), failed_status(config, message, cursor, exc)
    status = SourceStatus(
        source=config.name,
        type=config.type,
        ok=True,
        items=len(result.items),
        dead_letters=len(result.dead_letters),
        not_modified=result.not_modified,
        cursor=result.cursor if result.cursor is not None else cursor,
        drops=dict(result.drops),
        warnings=tuple(result.warnings),
    )
    return result, status


def failed_status(
    config: SourceConfig, error: str, cursor, exc: Exception | None = None
) -> SourceStatus:
    """The status of a fetch that failed with `error` (a whole line, naming the source); the
    source keeps `cursor`."""
    return SourceStatus(
        source=config.name,
        type=config.type,
        ok=False,
        error=error,
        cursor=cursor,
        retry_after=getattr(exc, "retry_after", None),
    )
