"""The HTML sanitizer: nh3 (Ammonia, what pln/clean.py uses) against the hand-written html.parser
sanitizer it replaced (sinks/sanitize.py as of commit fef91a5, read from git), side by side.

Measures speed on realistic bodies (the example blogs' HTML, Mastodon statuses, long articles)
and on a deep nest, and what each lets through from a list of XSS vectors: an output "lets
through" when, parsed again, it holds a tag or attribute outside the allow-list, an event
handler, a style, or a URL whose scheme is not http(s)/mailto.

    .venv/bin/python bench/bench_sanitize.py
"""

from __future__ import annotations

import html
import json
import re
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

import feedparser  # noqa: E402

from pln.clean import ALLOWED_ATTRS, ALLOWED_TAGS, clean_html  # noqa: E402

BEFORE = "fef91a5"  # the last commit with the html.parser sanitizer


def _old_sanitizer():
    """`sanitize_html` of sinks/sanitize.py at BEFORE (self-contained: stdlib imports only)."""
    import subprocess

    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BEFORE}:sinks/sanitize.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    namespace: dict = {"__name__": "old_sanitize"}
    exec(compile(source, f"{BEFORE}:sinks/sanitize.py", "exec"), namespace)
    return namespace["sanitize_html"]


old_sanitize = _old_sanitizer()

VECTORS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="\x01javascript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
    '<iframe src="javascript:alert(1)"></iframe>',
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    "<input onfocus=alert(1) autofocus>",
    "<details open ontoggle=alert(1)>",
    '<p style="background:url(javascript:alert(1))">x</p>',
    '<div style="position:fixed;top:0;left:0;width:100%;height:100%">overlay</div>',
    "<style>@import 'javascript:alert(1)';</style>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel=stylesheet href="javascript:alert(1)">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<p title="</p><script>alert(1)</script>">x</p>',
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<scr<script>ipt>alert(1)</script>",
    "<<script>script>alert(1)<</script>/script>",
    '<a href="https://ok.example/" onclick="alert(1)">x</a>',
    '<img src="https://ok.example/x.png" onload="alert(1)">',
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    '<blockquote cite="javascript:alert(1)">x</blockquote>',
    '<a href="https://ok.example/p/95">">x</a>',
    "<xmp><script>alert(1)</script></xmp>",
    "<template><script>alert(1)</script></template>",
    "<select><option><img src=x onerror=alert(1)></option></select>",
    "<textarea><img src=x onerror=alert(1)></textarea>",
    "<title><img src=x onerror=alert(1)></title>",
    '<a href="//evil.example/">protocol-relative</a>',
]
SAFE_SCHEMES = ("http:", "https:", "mailto:")


class _Check(HTMLParser):
    """What an output lets through, read back by a second parser."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"attribute {name}")
            elif name not in ALLOWED_ATTRS.get(tag, ()):
                self.problems.append(f"attribute {tag}.{name}")
            elif name in ("href", "src", "cite"):
                url = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(value or "")).lower()
                if ":" in url.split("/")[0] and not url.startswith(SAFE_SCHEMES):
                    self.problems.append(f"{name}={value[:30]!r}")
                if url.startswith("//"):
                    self.problems.append(f"{name} protocol-relative")


def lets_through(out: str) -> list[str]:
    check = _Check()
    check.feed(out)
    check.close()
    return check.problems


def realistic_bodies() -> list[tuple[str, str]]:
    """(base url, html) of the example blogs, the Mastodon fixtures and long articles."""
    bodies = []
    for path in sorted((ROOT / "examples" / "data" / "feeds").glob("*")):
        parsed = feedparser.parse(path.read_bytes(), sanitize_html=False)
        for e in parsed.entries:
            value = (e.get("content") or [{}])[0].get("value") or e.get("summary", "")
            if value:
                bodies.append((e.get("link", ""), value))
    for path in sorted((ROOT / "tests" / "fixtures" / "mastodon").glob("*.json")):
        data = json.loads(path.read_text())
        for status in data if isinstance(data, list) else [data]:
            if isinstance(status, dict) and status.get("content"):
                bodies.append((status.get("url") or "", status["content"]))
    article = "".join(
        f'<h2>Part {i}</h2><p>Spaced <em>retrieval</em> practice, see <a href="/p/{i}">part '
        f'{i}</a> &amp; <img src="img/{i}.png" alt="figure {i}">.</p><ul><li>one</li><li>two'
        "</li></ul><blockquote><p>A quote.</p></blockquote>"
        for i in range(60)
    )
    bodies += [("https://blog.example/posts/long", article)] * 20
    return bodies


def timed(fn, bodies, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        for base, body in bodies:
            fn(body, base)
    return time.perf_counter() - started


def main() -> None:
    sanitizers = {"html.parser (old)": old_sanitize, "nh3 (pln.clean)": clean_html}
    bodies = realistic_bodies()
    size = sum(len(b) for _, b in bodies)
    print(f"speed: {len(bodies)} bodies, {size / 1e6:.2f} MB, 5 passes (2 cores, shared machine)")
    for name, fn in sanitizers.items():
        seconds = timed(fn, bodies, 5)
        print(
            f"  {name:20} {5 * len(bodies) / seconds:>9,.0f} bodies/s {5 * size / seconds / 1e6:6.1f} MB/s"
        )
    for depth in (1_000, 10_000, 100_000):
        nest = "<div>" * depth + "x" + "</div>" * depth
        for name, fn in sanitizers.items():
            started = time.perf_counter()
            out = fn(nest, "")
            took = time.perf_counter() - started
            print(f"  {depth:>7,}-deep <div> nest, {name:20} {took:7.3f} s, {len(out):,} chars out")
    print(f"\nlets through ({len(VECTORS)} XSS vectors):")
    for name, fn in sanitizers.items():
        bad = {v: p for v in VECTORS if (p := lets_through(fn(v, "https://ok.example/")))}
        print(f"  {name:20} {len(bad)} vectors let something through")
        for vector, problems in bad.items():
            print(f"      {vector[:60]!r}: {', '.join(problems)}")
    differ = [v for v in VECTORS if old_sanitize(v, "") != clean_html(v, "")]
    print(f"\noutputs differ on {len(differ)} of {len(VECTORS)} vectors, e.g.:")
    for vector in differ[:8]:
        print(
            f"  {vector[:50]!r}\n    old {old_sanitize(vector, '')[:70]!r}\n    nh3 {clean_html(vector, '')[:70]!r}"
        )


if __name__ == "__main__":
    main()
