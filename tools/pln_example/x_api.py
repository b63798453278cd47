"""X API v2 timeline pages as twarc2 saves them: tweets with entities, users, includes."""

from __future__ import annotations

import hashlib
import json
import random
import re

from pln_example.content import Tweet

TAG_RE = re.compile(r"(?<![\w&])#(\w+)")
MENTION_RE = re.compile(r"(?<!\w)@(\w+)")
TCO_RE = re.compile(r"https://t\.co/\w+")


def user_id(username: str) -> str:
    """A stable 18-19 digit account id derived from the name (not from the generator's order)."""
    digest = int(hashlib.blake2b(username.encode(), digest_size=8).hexdigest(), 16)
    return str(10**17 + digest % (9 * 10**18 - 10**17))


class Pages:
    """Writes X API v2 timeline pages (as twarc2 saves them) for one set of tweets."""

    def __init__(self, tweets: list[Tweet], users: dict[str, str], owner: str):
        self.by_key, self.users, self.owner = {t.key: t for t in tweets}, users, owner

    def parent(self, t: Tweet) -> Tweet | None:
        return self.by_key.get(t.reply or t.quote or t.rt)

    def page(self, tweets: list[Tweet], next_token: str = "") -> str:
        referenced = {p.id: p for t in tweets if (p := self.parent(t))}
        names: dict[str, None] = {}  # an ordered set
        for t in [*tweets, *referenced.values()]:
            names[t.author] = None
            names.update(
                dict.fromkeys(m for m in MENTION_RE.findall(t.final_text) if m in self.users)
            )
        page = {
            "data": [self.tweet(t) for t in tweets],
            "includes": {"users": [self.user(name) for name in names]},
            "meta": {
                "result_count": len(tweets),
                "newest_id": tweets[0].id,
                "oldest_id": tweets[-1].id,
            },
            "__twarc": {
                "url": f"https://api.twitter.com/2/users/{user_id(self.owner)}/timelines/"
                "reverse_chronological?max_results=100&expansions=author_id%2Creferenced_tweets.id"
                "%2Centities.mentions.username%2Cin_reply_to_user_id",
                "version": "2.14.0",
                "retrieved_at": "2026-11-26T13:05:00+00:00",
            },
        }
        if referenced:
            page["includes"]["tweets"] = [self.tweet(r) for r in referenced.values()]
        if next_token:
            page["meta"]["next_token"] = next_token
        return json.dumps(page)

    def user(self, username: str) -> dict:
        return {
            "id": user_id(username),
            "name": self.users[username],
            "username": username,
            "created_at": "2012-03-14T09:26:53.000Z",
            "protected": False,
            "verified": False,
        }

    def tweet(self, t: Tweet) -> dict:
        metrics = random.Random(int(t.id))  # the same numbers wherever the tweet is included
        record = {
            "id": t.id,
            "text": t.final_text,
            "author_id": user_id(t.author),
            "created_at": t.created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "lang": t.lang,
            "conversation_id": t.id,
            "edit_history_tweet_ids": [t.id],
            "possibly_sensitive": False,
            "reply_settings": "everyone",
            "public_metrics": {
                "retweet_count": metrics.randint(0, 40) if not t.rt else 0,
                "reply_count": metrics.randint(0, 6),
                "like_count": metrics.randint(0, 120) if not t.rt else 0,
                "quote_count": metrics.randint(0, 3),
            },
        }
        if entities := self.entities(t):
            record["entities"] = entities
        parent = self.parent(t)
        if t.reply:
            root = parent
            while root.reply:
                root = self.by_key[root.reply]
            record["conversation_id"] = root.id
            record["in_reply_to_user_id"] = user_id(parent.author)
        if parent:
            kind = "replied_to" if t.reply else "quoted" if t.quote else "retweeted"
            record["referenced_tweets"] = [{"type": kind, "id": parent.id}]
        return record

    def entities(self, t: Tweet) -> dict[str, list]:
        text, urls = t.final_text, {u["url"]: u for u in t.urls}

        def spans(regex: re.Pattern, fields, keep=lambda m: True) -> list[dict]:
            found = [m for m in regex.finditer(text) if keep(m)]
            return [{"start": m.start(), "end": m.end(), **fields(m)} for m in found]

        found = {
            "urls": spans(TCO_RE, lambda m: urls[m[0]], lambda m: m[0] in urls),
            "hashtags": spans(TAG_RE, lambda m: {"tag": m[1]}),
            "mentions": spans(
                MENTION_RE,
                lambda m: {"username": m[1], "id": user_id(m[1])},
                lambda m: m[1] in self.users,
            ),
        }
        return {kind: items for kind, items in found.items() if items}
