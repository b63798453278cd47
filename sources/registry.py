"""Source types by name. Modules are imported lazily so a config only loads what it uses."""

from __future__ import annotations

import importlib

from pln.config import ConfigError, SourceConfig
from pln.sources.base import Source

# type name -> "module:Class" under pln.sources
SOURCE_TYPES: dict[str, str] = {
    "rss": "rss:FeedSource",
    "twitter_v2": "twitter:TwitterV2FileSource",
    "twitter_archive": "twitter:TwitterArchiveSource",
    "twitter_api": "twitter:TwitterApiSource",
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
