"""Threading rules shared by every chat source: replies, Q/A numbers, @-replies, time gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pln.sources.chat import (
    Message,
    decode_lines,
    group_threads,
    looks_binary,
    qa_label,
    question_text,
    shorten,
    thread_item,
)

T0 = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
GAP = timedelta(minutes=10)


def msg(id, minute, author, text, **kw):
    return Message(id=str(id), author=author, text=text, at=T0 + timedelta(minutes=minute), **kw)


def threads_of(messages, gap=GAP):
    """Each thread as the list of its message ids, root first."""
    out = []
    for t in group_threads(messages, gap):
        out.append([t.root.id] + [m.id for m in t.messages if m is not t.root])
    return out


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Q1. What is spacing?", ("Q", 1)),
        ("Q1: What is spacing?", ("Q", 1)),
        ("q12 what now", ("Q", 12)),
        ("A1) we do", ("A", 1)),
        ("A1 - we do", ("A", 1)),
        ("A1b: and also", ("A", 1)),
        ("A3", ("A", 3)),
        ("@lrnchat @jane A2: pilot first", ("A", 2)),
        ("@lrnchat, A2 pilot first", ("A", 2)),
        ("A1C levels matter", None),
        ("Answer 1 is no", None),
        ("RT @lrnchat: Q1 what?", None),
        ("I loved Q1", None),
        ("A100 people came", None),
    ],
)
def test_question_and_answer_labels(text, label):
    assert qa_label(text) == label


def test_answers_join_their_question_by_number_even_out_of_order():
    messages = [
        msg(1, 0, "host", "Q1 What is spacing?"),
        msg(2, 1, "ann", "A1 repeating over days"),
        msg(3, 5, "host", "Q2 And interleaving?"),
        msg(4, 6, "bob", "A1 late but: weeks apart"),
        msg(5, 6, "ann", "A2 mixing topics"),
    ]
    assert threads_of(messages) == [["1", "2", "4"], ["3", "5"]]


def test_an_answer_posted_just_before_its_question_still_joins_it():
    messages = [msg(1, 0, "eager", "A1 we use flashcards"), msg(2, 1, "host", "Q1 Tools?")]
    [thread] = group_threads(messages, GAP)
    assert thread.root.id == "2" and thread.question == 1
    assert thread.participants == ["host", "eager"]


def test_a_repeated_question_is_one_thread_but_next_weeks_q1_is_new():
    messages = [
        msg(1, 0, "host", "Q1 What is spacing?"),
        msg(2, 1, "cohost", "Q1 What is spacing? (repeat for latecomers)"),
        msg(3, 2, "ann", "A1 days apart"),
        msg(4, 7 * 24 * 60, "host", "Q1 What is feedback?"),
        msg(5, 7 * 24 * 60 + 1, "bob", "A1 timely and kind"),
    ]
    threads = group_threads(messages, GAP)
    assert [[m.id for m in t.messages] for t in threads] == [["1", "2", "3"], ["4", "5"]]
    assert [t.question for t in threads] == [1, 1]


def test_explicit_replies_come_first_even_across_time_gaps():
    messages = [
        msg("p", 0, "ann", "Has anyone tried spaced quizzes?"),
        msg("x", 1, "bob", "Unrelated: the coffee machine is fixed"),
        msg("r", 90, "cid", "Yes, weekly, it works", reply_to="p"),
        msg("rr", 91, "ann", "Thanks!", reply_to="r"),
        msg("orphan", 92, "dan", "replying to something not in this export", reply_to="zzz"),
    ]
    threads = group_threads(messages, GAP)
    assert [[m.id for m in t.messages] for t in threads] == [["p", "r", "rr"], ["x"], ["orphan"]]
    assert [t.how for t in threads] == ["reply", "gap", "gap"]


def test_at_replies_join_the_thread_of_the_person_answered_within_the_gap():
    messages = [
        msg(1, 0, "host", "Q1 Tools?"),
        msg(2, 1, "ann", "A1 a calendar"),
        msg(3, 2, "bob", "@ann which calendar app?"),
        msg(4, 3, "ann", "@bob just Outlook"),
        msg(5, 30, "cid", "@ann late reply, out of the gap"),
    ]
    assert threads_of(messages) == [["1", "2", "3", "4"], ["5"]]


def test_an_at_reply_labelled_as_an_answer_never_merges_two_questions():
    messages = [
        msg(1, 0, "host", "Q1 Tools?"),
        msg(2, 3, "host", "Q2 Habits?"),
        msg(3, 4, "ann", "@host A1 a calendar"),  # @host's latest message is Q2
    ]
    assert threads_of(messages) == [["1", "3"], ["2"]]


def test_leftover_messages_are_split_at_time_gaps_and_system_notices_ignored():
    messages = [
        msg(1, 0, "ann", "good morning everyone, coffee time"),
        msg(2, 9, "bob", "morning! anyone at the conference?"),
        msg("sys", 10, "", "cid joined the group", system=True),
        msg(3, 25, "cid", "I am, room 4 is packed"),
    ]
    threads = group_threads(messages, GAP)
    assert [[m.id for m in t.messages] for t in threads] == [["1", "2"], ["3"]]
    assert all(t.how == "gap" for t in threads)


def test_short_chatter_is_trivial_but_a_short_question_is_not():
    threads = group_threads(
        [msg(1, 0, "ann", "hi all"), msg(2, 30, "host", "Q1 Why?"), msg(3, 60, "bob", "ok")], GAP
    )
    assert [(t.root.id, t.trivial) for t in threads] == [("1", True), ("2", False), ("3", True)]


def test_thread_item_carries_the_discussion_participants_tags_and_links():
    messages = [
        msg(1, 0, "host", "Q1 Which #microlearning tools? cc @ann"),
        msg(
            2, 1, "ann", "A1 see https://example.org/tools.", links=("https://files.example/a.pdf",)
        ),
        msg(3, 2, "bob", "A1 email nudges #Nudges, ask bob@example.org"),
    ]
    [thread] = group_threads(messages, GAP)
    item = thread_item(thread, source="s", platform="slack", native_id="c:1", title="t")
    assert item.kind == "chat_thread" and item.platform == "slack"
    assert item.text.splitlines() == [
        "Q1 Which #microlearning tools? cc @ann",
        "@ann: A1 see https://example.org/tools.",
        "@bob: A1 email nudges #Nudges, ask bob@example.org",
    ]
    assert item.participants == ("host", "ann", "bob")
    assert item.hashtags == ("microlearning", "nudges")
    assert item.mentions == ("ann",)  # an e-mail address is not a mention
    assert item.links == ("https://example.org/tools", "https://files.example/a.pdf")
    assert item.published_at == T0 and item.author == "host"


def test_question_text_and_shorten_make_readable_titles():
    assert question_text("@lrnchat Q1. What is #LrnChat about? #lrnchat", "lrnchat") == (
        "What is about?"
    )
    assert shorten("word " * 40, 20) == "word word word word…"
    assert len(shorten("x" * 200, 20)) == 20
    assert shorten("  short\n text ") == "short text"


def test_lines_of_mixed_encodings_all_decode():
    data = "café utf8\n".encode() + "café cp1252 – dash\r\n".encode("cp1252") + b"\x81\xff latin1"
    assert list(decode_lines(b"\xef\xbb\xbf" + data)) == [
        "café utf8",
        "café cp1252 – dash",
        "\x81ÿ latin1",
    ]


def test_binary_data_is_recognised():
    assert looks_binary(b"PK\x03\x04\x00\x00")
    assert looks_binary(bytes(range(1, 32)) * 10)
    assert not looks_binary("plain text, café\n\ttabbed\n".encode())
