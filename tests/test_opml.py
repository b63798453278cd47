"""read_opml: feed readers' OPML exports to rss source entries."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_source

from pln.errors import ConfigError
from pln.sources.opml import read_opml

OPML = Path(__file__).parent / "fixtures" / "feeds" / "subscriptions.opml"


def test_feeds_in_nested_folders_become_source_entries():
    entries = read_opml(OPML)
    assert entries[0] == {
        "name": "the-learning-loop",
        "type": "rss",
        "url": "https://learningloop.example/feed/",
        "title": "The Learning Loop",
        "category": "Learning science",
    }
    by_name = {e["name"]: e for e in entries}
    assert by_name["retrieval-practice-weekly"]["category"] == "Learning science/Memory"
    assert by_name["l-d-lab"]["category"] == "Research, Workshops"  # category attribute
    assert "category" not in by_name["kenshu-example-jp"]


def test_names_are_unique_slugs_and_duplicate_feeds_are_kept_once():
    entries = read_opml(OPML, taken=["the-learning-loop"])
    names = [e["name"] for e in entries]
    urls = [e["url"] for e in entries]
    assert len(set(names)) == len(names) == len(set(urls)) == 6
    assert "the-learning-loop" not in names
    assert names[:3] == ["the-learning-loop-2", "retrieval-practice-weekly", "the-learning-loop-3"]
    assert "elearning-notes-grusse" in names  # accents folded
    assert "kenshu-example-jp" in names  # no Latin letters in the title: named by host


def test_feed_scheme_and_lower_case_attributes_are_understood():
    urls = {e["url"] for e in read_opml(OPML)}
    assert "http://elearningnotes.example/index.rdf" in urls  # feed://
    assert "https://learningloop.example/comments/feed/" in urls  # xmlurl
    assert "https://example.org/" not in urls  # a link outline is not a feed


def test_every_entry_is_a_valid_rss_source():
    for entry in read_opml(OPML):
        options = {k: v for k, v in entry.items() if k not in ("name", "type")}
        source = make_source("rss", OPML.parent, entry["name"], **options)
        assert source.url == entry["url"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<opml><body><outline text='x'", "invalid OPML: unclosed token: line 1"),
        (b"<rss version='2.0'><channel/></rss>", "invalid OPML: root element is <rss>"),
        (b"<opml version='2.0'><head/></opml>", "invalid OPML: no <body> element"),
        (
            b"<opml><body><outline text='Old' xmlUrl='ftp://old.example/feed'/></body></opml>",
            "outline 'Old' has xmlUrl 'ftp://old.example/feed', which is not an http\\(s\\) URL",
        ),
    ],
)
def test_invalid_opml_is_a_one_line_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "export.opml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        read_opml(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="OPML file not found"):
        read_opml(tmp_path / "nope.opml")


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE opml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!doctype opml SYSTEM "file:///etc/passwd">',
    ],
    ids=["entity bomb", "external entity", "external dtd"],
)
def test_declarations_are_refused_before_parsing(tmp_path, doctype):
    path = tmp_path / "export.opml"
    path.write_text(
        f'<?xml version="1.0"?>{doctype}<opml><body><outline text="&b;" '
        'xmlUrl="https://a.example/feed"/></body></opml>'
    )
    with pytest.raises(ConfigError, match="DOCTYPE or ENTITY declaration"):
        read_opml(path)
