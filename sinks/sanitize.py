"""HTML for feeds: untrusted HTML sanitized, plain text as HTML, URLs checked.

The sanitizer is nh3 (the Python binding of Ammonia, on the html5ever parser) with the
allow-list in pln/clean.py, which `Item.create` already applies when items are made; feeds
sanitize again when rendering, for items stored by an older version. Only known-safe tags and
attributes pass; script-like elements are dropped with their content; URLs must be http(s) (or
mailto and #fragments for links), relative ones are resolved against the item's URL, and all
are percent-encoded. bench/bench_sanitize.py compares it with the hand-written html.parser
sanitizer it replaced.
"""

from __future__ import annotations

import html
import re

from pln.clean import clean_html, clean_url, xml_text

__all__ = ["safe_url", "sanitize_html", "text_to_html", "xml_text"]

_URL_RE = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def sanitize_html(fragment: str, base_url: str = "") -> str:
    """A safe HTML fragment from untrusted HTML ("" when too deep or too long, see
    pln/clean.py: the item's text is shown instead)."""
    return clean_html(fragment, base_url)


def text_to_html(text: str) -> str:
    """Plain text as HTML paragraphs, with line breaks kept and http(s) URLs linked."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", xml_text(text)) if p.strip()]
    return "".join(f"<p>{_linkify(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def safe_url(value: str, attr: str = "href", base_url: str = "") -> str:
    """The URL if it is safe to put in `attr`, resolved against base_url and percent-encoded;
    otherwise ''. Links (`href`) may also be mailto: or a #fragment."""
    url = value.strip()
    if attr == "href" and (url.startswith("#") or url.lower().startswith("mailto:")):
        return url
    return clean_url(url, base_url)


def _linkify(text: str) -> str:
    out, last = [], 0
    for match in _URL_RE.finditer(text):
        url = match.group(0)
        out.append(html.escape(text[last : match.start()], quote=False))
        href = clean_url(url)
        shown = html.escape(url, quote=False)
        out.append(f'<a href="{html.escape(href)}">{shown}</a>' if href else shown)
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)
