"""Feedback as a person gives it: find the links in an entry, open one, press the button.
Shared by the serve tests and bench/bench_left_running.py."""

from __future__ import annotations

import http.client
import re
import urllib.request
from html import unescape
from urllib.parse import urlencode, urlsplit


def give_feedback(link, *, origin=None, cookie=True, fetch_site=None, fields=None):
    """Open a feedback link, then press the page's button. Returns the POST's (status, page)."""
    with urllib.request.urlopen(link, timeout=10) as response:
        page = response.read().decode()
        set_cookie = response.headers["Set-Cookie"] or ""
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    form = {k: unescape(v) for k, v in form.items()} | (fields or {})
    url = urlsplit(link)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers["Origin"] = origin or f"{url.scheme}://{url.netloc}"
    if cookie and set_cookie:
        headers["Cookie"] = set_cookie.split(";")[0]
    if fetch_site:
        headers["Sec-Fetch-Site"] = fetch_site
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("POST", url.path, body=urlencode(form), headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def feedback_links(content_html: str) -> dict[str, str]:
    """{"More like this": url, "Less like this": url} from an entry's HTML."""
    found = re.findall(r"<a ([^>]*/_feedback\?[^>]*)>([^<]+)</a>", content_html)
    links = {text: dict(re.findall(r'(\w+)="([^"]*)"', attrs)) for attrs, text in found}
    assert all(a["rel"] == "nofollow" for a in links.values())  # crawlers: keep out
    return {text: unescape(a["href"]) for text, a in links.items()}
