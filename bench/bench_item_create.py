"""What making items safe costs in `Item.create` (pln/clean.py): items/s for posts (title, text,
url, links) and for articles with a few KB of HTML, against the same fields without the
cleaning (a plain dataclass build), side by side.

    .venv/bin/python bench/bench_item_create.py
"""

from __future__ import annotations

import time

from pln.record import Item, make_item_id

N = 20_000
ARTICLE = "".join(
    f'<p>Spaced <em>retrieval</em> practice, see <a href="/p/{i}">part {i}</a> &amp; '
    f'<img src="img/{i}.png" alt="figure {i}">.</p>'
    for i in range(20)
)  # ~2.4 KB, like a typical feed entry


def fields(i: int, html: str) -> dict:
    return {
        "kind": "article",
        "title": f"Spaced practice &amp; retrieval, part {i}",
        "text": "Spaced practice and retrieval practice at work. " * 20,
        "html": html,
        "url": f"https://blog.example/posts/{i}",
        "links": (f"https://blog.example/a/{i}", "https://other.example/x"),
    }


def run(label: str, make) -> None:
    started = time.perf_counter()
    for i in range(N):
        make(i)
    print(f"  {label:44} {N / (time.perf_counter() - started):>9,.0f} items/s")


def main() -> None:
    print(f"{N:,} items each (2 cores, shared machine)")
    for kind, html in (("post (no HTML)", ""), ("article (2.4 KB HTML)", ARTICLE)):
        run(
            f"{kind}: Item.create",
            lambda i, html=html: Item.create(
                source="blog", platform="rss", native_id=f"p{i}", **fields(i, html)
            ),
        )
        run(
            f"{kind}: plain Item(...)",
            lambda i, html=html: Item(
                id=make_item_id("rss", f"p{i}"),
                source="blog",
                platform="rss",
                native_id=f"p{i}",
                **fields(i, html),
            ),
        )


if __name__ == "__main__":
    main()
