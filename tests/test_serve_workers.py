"""`pln serve`'s granian workers left running for a long time: a worker killed (as the
out-of-memory killer kills the biggest process) is replaced and the server keeps answering;
`pln serve` killed with SIGKILL takes its workers with it, so a new one can listen on the port,
and a feedback click in flight at that moment is answered and its label kept. The real
`pln serve` on 127.0.0.1, its workers found in /proc, real signals; no mocks."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from feedsite import POSTS, build_site, free_port
from helpers import hold_database, stored_labels
from test_serve import LATER, fetch_when_up, until

from pln.sinks.feeds import FeedbackKey
from pln.sinks.label_journal import journal_path

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

HANG = 60  # seconds: only a bound against hanging, never a timing requirement


def serve(config, log: Path, *flags: str) -> subprocess.Popen:
    """`pln serve -c CONFIG FLAGS`, its stdout and stderr (granian logs to stdout) in `log`."""
    command = [sys.executable, "-m", "pln.cli", "serve", "-c", str(config.path), *flags]
    with log.open("a") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM, as a person stops it; its exit code. One that hangs is killed, and fails."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=HANG)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (one that ended and waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def children(pid: int) -> set[int]:
    """The living processes whose parent is `pid`, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rpartition(")")[2].split()[:2]
        except (OSError, ValueError):
            continue  # ended meanwhile
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def workers_of(proc: subprocess.Popen, besides: int = 0) -> set[int]:
    """The two granian workers of a `pln serve`, once both are there (and `besides`, a
    worker killed, has been replaced)."""

    def both() -> set[int] | None:
        found = children(proc.pid)
        return found if len(found) == 2 and besides not in found else None

    return until(both, HANG)


def feed_answers(config) -> bool:
    """Twenty requests for a feed, each on a new connection (so that both workers answer)."""
    for _ in range(20):
        with urllib.request.urlopen(f"{config.outputs.base_url}/spaced.rss.xml", timeout=10) as r:
            if r.status != 200 or b"<rss" not in r.read():
                return False
    return True


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering(tmp_path):
    config = build_site(tmp_path, free_port())
    log = tmp_path / "serve.log"
    proc = serve(config, log)
    try:
        fetch_when_up(f"{config.outputs.base_url}/spaced.rss.xml", HANG)
        first = workers_of(proc)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)  # as the out-of-memory killer does
        now = workers_of(proc, besides=victim)
        assert len(now & first) == 1  # the other one served on
        assert feed_answers(config)
        assert proc.poll() is None  # still serving
        (new,) = now - first
        said = until(lambda: re.search(r"granian worker-(\d) \(pid (\d+)\) .*\n", log.read_text()))
        assert said.group(0) == (
            f"granian worker-{said.group(1)} (pid {victim}) was killed by SIGKILL (as the "
            f"out-of-memory killer does); serving on with a new worker-{said.group(1)} "
            f"(pid {new})\n"
        )
    finally:
        code = stop(proc)
    text = log.read_text()
    assert code == 0, text
    assert "Unexpected exit" not in text  # granian's line: pln's says it, with the reason
    assert text.count(f"(pid {victim})") == 1 and "Traceback" not in text


def test_a_worker_that_dies_again_right_after_its_restart_stops_pln_serve_with_one_line(
    tmp_path,
):
    config = build_site(tmp_path, free_port())
    log = tmp_path / "serve.log"
    proc = serve(config, log, "-q")
    try:
        fetch_when_up(f"{config.outputs.base_url}/spaced.rss.xml", HANG)
        first = workers_of(proc)
        os.kill(min(first), signal.SIGKILL)
        (new,) = workers_of(proc, besides=min(first)) - first
        os.kill(new, signal.SIGKILL)  # within seconds of its start: granian's crash loop
        proc.wait(timeout=HANG)
    finally:
        stop(proc)
    text = log.read_text()
    assert proc.returncode == 1
    assert re.fullmatch(
        rf"pln: error: granian worker-\d \(pid {new}\) was killed by SIGKILL \(as the "
        r"out-of-memory killer does\), again within seconds of being started: stopped serving\n",
        text,
    ), text  # -q: that line only


def test_workers_end_when_pln_serve_is_killed_and_a_restart_listens_on_the_port(tmp_path):
    config = build_site(tmp_path, free_port())
    log = tmp_path / "serve.log"
    proc = serve(config, log, "-q")
    workers: set[int] = set()
    try:
        fetch_when_up(f"{config.outputs.base_url}/spaced.rss.xml", HANG)
        workers = workers_of(proc)
        proc.kill()  # SIGKILL: pln serve cannot stop its workers itself
        proc.wait(timeout=HANG)
        until(lambda: not any(alive(pid) for pid in workers), HANG)
    finally:
        proc.kill()
        for pid in workers:  # only if the test failed: leave no server behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    again = serve(config, log, "-q")
    try:
        fetch_when_up(f"{config.outputs.base_url}/spaced.rss.xml", HANG)
        assert feed_answers(config)
    finally:
        code = stop(again)
    assert code == 0 and log.read_text() == ""


def test_a_click_in_flight_when_pln_serve_is_killed_is_answered_and_its_label_kept(tmp_path):
    """The worker stops as `pln serve` would stop it: it finishes the requests in flight.
    The database is held, so the click is journaled and then waits for it (LABEL_WAIT); the
    next `pln serve` writes it into the labels table."""
    config = build_site(tmp_path, free_port())
    log = tmp_path / "serve.log"
    proc = serve(config, log, "-q")
    key = FeedbackKey.beside(config.outputs.duckdb)
    link = key.url(config.outputs.base_url, POSTS[1][0].id, "spaced", "up", LATER)
    workers: set[int] = set()
    answer: dict = {}
    try:
        fetch_when_up(f"{config.outputs.base_url}/spaced.rss.xml", HANG)
        workers = workers_of(proc)
        press = open_feedback_page(link)
        holder = hold_database(config.outputs.duckdb)  # a run, say
        try:
            click = threading.Thread(target=lambda: answer.update(answer=press()))
            click.start()
            journal = journal_path(config.outputs.duckdb)
            until(lambda: journal.exists() and journal.stat().st_size > 0, HANG)
            proc.kill()  # while the click waits for the database
            click.join(HANG)
            until(lambda: not any(alive(pid) for pid in workers), HANG)
        finally:
            holder.stdin.close()
            holder.wait(timeout=HANG)
    finally:
        proc.kill()
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert "answer" in answer, "the worker ended without answering the click"
    status, page = answer["answer"]
    assert status == 200 and "feedback is kept" in page
    assert stored_labels(config.outputs.duckdb) == []  # not yet: it waits in the journal
    again = serve(config, log, "-q")
    try:
        until(lambda: stored_labels(config.outputs.duckdb), HANG)  # from the journal
    finally:
        code = stop(again)
    assert [(x.item_id, x.topic, x.label) for x in stored_labels(config.outputs.duckdb)] == [
        (POSTS[1][0].id, "spaced", 1)
    ]
    assert code == 0 and log.read_text() == ""


def open_feedback_page(link: str):
    """Open a feedback link as a person does; returns the press of its button, which gives
    (status, page)."""
    with urllib.request.urlopen(link, timeout=10) as response:
        page = response.read().decode()
        cookie = (response.headers["Set-Cookie"] or "").split(";")[0]
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    body = urlencode({k: unescape(v) for k, v in form.items()})
    url = urlsplit(link)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": f"{url.scheme}://{url.netloc}",
        "Cookie": cookie,
    }

    def press() -> tuple[int, str]:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=HANG)
        try:
            conn.request("POST", url.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    return press
