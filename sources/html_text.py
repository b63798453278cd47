"""HTML post bodies (Mastodon `content`) to plain text and the links they carry.

Paragraphs and line breaks become newlines; links keep their full target even when the server
shortened the visible part (Mastodon hides "https://" and the tail in `invisible` spans, which
are still text here); mentions and hashtag links are text, not links; Mastodon's "RE: <url>"
quote preamble (`quote-inline`) is left out because the quote is recorded separately.
The reading itself is pln/text.py's `html_text`, shared with feeds and item cards.
"""

from __future__ import annotations

from pln.text import HtmlText, html_text


def html_to_text(html: str) -> HtmlText:
    """Plain text (whitespace tidied, paragraphs separated by a blank line) and the distinct
    absolute http(s) links, in order."""
    read = html_text(html or "", paragraphs=True, hidden_class="quote-inline", skip_tag_links=True)
    return HtmlText(read.text, tuple(dict.fromkeys(read.links)))
