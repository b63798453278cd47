"""expected.json: what each item is written for, and what a run must keep and not keep."""

from __future__ import annotations

from pln_example.blogs import BuiltPost
from pln_example.content import Blog, Chat, Content, Tweet, chat_threads, role_keys
from pln_example.timeline import CORRUPT_LINE, TWEET_FILES, json_pages


class Outcomes:
    """Each item with the topics it is written for, and per topic what to keep and not keep."""

    def __init__(self, topics: dict[str, str]):
        self.topics, self.items, self.blocked = topics, [], []
        self.by_topic = {tid: {"keep": [], "near_misses": []} for tid in topics.values()}

    def add(self, ref: dict, role: str) -> None:
        on, near = role_keys(role)
        entry = {k: v for k, v in ref.items() if k not in ("text", "author")}
        entry["topics"] = [self.topics[k] for k in on]
        if near:
            entry["near_miss_for"] = self.topics[near]
            self.by_topic[self.topics[near]]["near_misses"].append(ref)
        self.items.append(entry)
        for k in on:
            self.by_topic[self.topics[k]]["keep"].append(ref)

    def add_posts(self, blogs: list[Blog], posts: dict[str, list[BuiltPost]]) -> None:
        for blog in blogs:
            for p in posts[blog.name]:
                self.add({"source": blog.name, "url": p.url, "title": p.post.title}, p.post.role)

    def add_tweets(self, tweets: list[Tweet], source_of: dict[str, str], spam: dict) -> None:
        """The timeline, oldest first; the topic-tagged spam is blocked by its author instead."""
        for t in sorted((t for t in tweets if not t.hidden), key=lambda t: t.created):
            ref = {"source": source_of[t.id], "tweet_id": t.id, "author": t.author}
            ref["text"] = t.final_text
            if t.role == "policy":
                self.blocked.append(
                    {**ref, "topic": self.topics[spam["topic"]], "why": spam["why"]}
                )
            else:
                self.add(ref, t.role)

    def add_chat(self, chat: Chat) -> None:
        for n, (question, *_) in chat_threads(chat).items():
            ref = {"source": chat.source, "question": n, "title": f"Q{n}", "text": question}
            self.add(ref, chat.roles[f"Q{n}"])


def x_files(files: dict[str, list[str]]) -> tuple[list[dict], dict[str, str]]:
    """A summary of each timeline file, and the file's source for each tweet id in it."""
    summary, source_of = [], {}
    for name, source, _, _ in TWEET_FILES:
        pages = json_pages(files[name])
        source_of |= {record["id"]: source for page in pages for record in page["data"]}
        summary.append(
            {"file": f"x/{name}", "source": source, "lines": len(files[name]), "pages": len(pages)}
            | {"posts": sum(len(page["data"]) for page in pages)}
        )
    return summary, source_of


def expected(content: Content, posts: dict, tweets: list[Tweet], files: dict) -> dict:
    """The facts of expected.json, item by item and in sum."""
    timeline, source_of = x_files(files)
    outcomes = Outcomes(content.topics)
    outcomes.add_posts(content.blogs, posts)
    outcomes.add_tweets(tweets, source_of, content.chatter["spam_with_topic_tag"])
    outcomes.add_chat(content.chat)
    feeds = [
        {
            "file": f"feeds/{b.file}",
            "source": b.name,
            "format": "rss20" if b.format == "rss" else "atom10",
            "entries": len(b.posts),
        }
        for b in content.blogs
    ]
    chat = content.chat
    people = sorted({author for author, _ in chat.messages})
    return {
        "about": "Outcomes the example data is designed for; written by tools/make_example.py.",
        "feeds": feeds,
        "feed_entries": sum(f["entries"] for f in feeds),
        "broken_feed": {"file": "feeds/broken.xml", "source": "broken-blog"},
        "x": {
            "files": timeline,
            "posts": sum(f["posts"] for f in timeline),
            "corrupt_line": f"x/{TWEET_FILES[1][0]}:{CORRUPT_LINE}",
            "includes_only_tweet_ids": [t.id for t in tweets if t.hidden],
        },
        "chat": {
            "file": f"chats/{chat.file}",
            "source": chat.source,
            "messages": len(chat.messages),
            "questions": len(chat_threads(chat)),
            "participants": len(people),
            "people": people,
        },
        "topics": outcomes.by_topic,
        "blocked": outcomes.blocked,
        "items": outcomes.items,
    }
