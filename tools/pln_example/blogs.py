"""The six blogs: posts dated and filled out with paragraphs, written as RSS 2.0 or Atom."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

from pln_example import END, START
from pln_example.content import Blog, Content, Post, role_keys


class Dealer:
    """Deals out a section's paragraphs in a seeded order, so posts rarely share one."""

    def __init__(self, rng: random.Random, items: list[str]):
        self.rng, self.items, self.queue = rng, items, []

    def take(self, avoid: str = "") -> str:
        if not self.queue:
            self.queue = list(self.items)
            self.rng.shuffle(self.queue)
        for i, item in enumerate(self.queue):
            if item != avoid:
                return self.queue.pop(i)
        return self.queue.pop(0)


@dataclass
class BuiltPost:
    index: int
    post: Post
    when: datetime
    url: str
    href: str  # the link as written in the feed (relative under xml:base)
    author: str
    html: str


def build_posts(rng: random.Random, content: Content) -> dict[str, list[BuiltPost]]:
    dealers = {key: Dealer(rng, items) for key, items in content.paragraphs.items()}
    span = int((END - START).total_seconds())
    out = {}
    for blog in content.blogs:
        tz = timezone(timedelta(hours=blog.tz_hours))
        times = sorted(START + timedelta(seconds=rng.randrange(span)) for _ in blog.posts)
        rng.shuffle(times)
        out[blog.name] = []
        for i, (post, when) in enumerate(zip(blog.posts, times, strict=True)):
            when = when.astimezone(tz).replace(microsecond=0)
            slug = re.sub(r"[^a-z0-9]+", "-", post.title.lower().replace("'", "")).strip("-")
            path = f"{when:%Y/%m}/{slug}/"
            url = f"{blog.site}/{path}"
            paragraphs = [escape(post.lede), *body(rng, dealers, role_keys(post.role)[0])]
            html = "".join(f"<p>{p}</p>" for p in paragraphs)
            html += closing(rng, blog, when) + post.extra_html
            author = blog.authors[i % len(blog.authors)]
            href = path if blog.xml_base else url
            out[blog.name].append(BuiltPost(i, post, when, url, href, author, html))
    return out


def body(rng: random.Random, dealers: dict[str, Dealer], keys: list[str]) -> list[str]:
    """Two paragraphs of a single topic, one of each of two, or one or two general ones."""
    if len(keys) == 1:
        first = dealers[keys[0]].take()
        return [first, dealers[keys[0]].take(avoid=first)]
    if keys:
        return [dealers[k].take() for k in keys]
    first = dealers["general"].take()
    return [first, dealers["general"].take(avoid=first)] if rng.random() < 0.5 else [first]


def closing(rng: random.Random, blog: Blog, when: datetime) -> str:
    base = "" if blog.relative_links else blog.site
    choice = rng.randrange(3)
    if choice == 0:
        return f'<p>More from this month in <a href="{base}/{when:%Y/%m}/">the archive</a>.</p>'
    if choice == 1:
        img = f"{base}/images/{when:%Y%m%d}-sketch.png"
        return (
            f'<p><img src="{img}" alt="A hand-drawn sketch of the idea" width="600"></p>'
            f'<p>Questions? <a href="{base}/contact/">Get in touch</a>.</p>'
        )
    return (
        '<ul><li><a href="https://example.org/reading-list">Reading list</a></li>'
        f'<li><a href="{base}/about/">About this blog</a></li></ul>'
    )


def feed(blog: Blog, posts: list[BuiltPost]) -> str:
    return rss_feed(blog, posts) if blog.format == "rss" else atom_feed(blog, posts)


def rss_feed(blog: Blog, posts: list[BuiltPost]) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">',
        "<channel>",
        f"  <title>{escape(blog.title)}</title>",
        f"  <link>{blog.site}/</link>",
        f"  <description>{escape(blog.description)}</description>",
        "  <language>en-gb</language>",
        f"  <lastBuildDate>{format_datetime(max(p.when for p in posts))}</lastBuildDate>",
        "  <generator>Hugo</generator>",
        f'  <atom:link href="{blog.site}/index.xml" rel="self" type="application/rss+xml"/>',
    ]
    for p in newest_first(posts):
        lines += [
            "  <item>",
            f"    <title>{escape(p.post.title)}</title>",
            f"    <link>{p.url}</link>",
        ]
        if p.post.guid and blog.cdata:
            lines.append(f'    <guid isPermaLink="true">{p.url}</guid>')
        elif p.post.guid:
            lines.append(f'    <guid isPermaLink="false">northwind-people-{1400 + p.index}</guid>')
        lines.append(f"    <pubDate>{format_datetime(p.when)}</pubDate>")
        lines.append(f"    <dc:creator>{escape(p.author)}</dc:creator>")
        lines += [f"    <category>{escape(c)}</category>" for c in p.post.categories]
        lines.append(f"    <description>{escape(p.post.lede)}</description>")
        html = f"<![CDATA[{p.html}]]>" if blog.cdata else escape(p.html)
        lines += [f"    <content:encoded>{html}</content:encoded>", "  </item>"]
    return "\n".join([*lines, "</channel>", "</rss>", ""])


def atom_feed(blog: Blog, posts: list[BuiltPost]) -> str:
    host = blog.site.split("//", 1)[1].split("/", 1)[0]
    base = f' xml:base="{blog.site}/"' if blog.xml_base else ""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom"{base}>',
        f"  <title>{escape(blog.title)}</title>",
        f"  <subtitle>{escape(blog.description)}</subtitle>",
        f'  <link rel="alternate" type="text/html" href="{blog.site}/"/>',
        f'  <link rel="self" type="application/atom+xml" href="{blog.site}/feed.atom"/>',
        f"  <id>tag:{host},2026:feed</id>",
        f"  <updated>{max(p.when for p in posts).isoformat()}</updated>",
        f"  <author><name>{escape(blog.authors[0])}</name></author>",
    ]
    for p in newest_first(posts):
        updated = p.when + timedelta(hours=p.index % 3)
        lines += [
            "  <entry>",
            f"    <title>{escape(p.post.title)}</title>",
            f'    <link rel="alternate" type="text/html" href={quoteattr(p.href)}/>',
            f"    <id>tag:{host},2026:post-{100 + p.index}</id>",
            f"    <published>{p.when.isoformat()}</published>",
            f"    <updated>{updated.isoformat()}</updated>",
            f"    <author><name>{escape(p.author)}</name></author>",
            *[f"    <category term={quoteattr(c)}/>" for c in p.post.categories],
            f'    <summary type="text">{escape(p.post.lede)}</summary>',
            f'    <content type="html">{escape(p.html)}</content>',
            "  </entry>",
        ]
    return "\n".join([*lines, "</feed>", ""])


def newest_first(posts: list[BuiltPost]) -> list[BuiltPost]:
    return sorted(posts, key=lambda p: p.when, reverse=True)
