from datetime import UTC, datetime

import pytest

from pln.cron import Cron, CronError


def at(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("*/15 * * * *", at(2026, 11, 27, 10, 7), at(2026, 11, 27, 10, 15)),
        ("0 6 * * *", at(2026, 11, 27, 6, 0), at(2026, 11, 28, 6, 0)),
        ("@daily", at(2026, 12, 31, 23, 59), at(2027, 1, 1, 0, 0)),
        ("30 7 * * mon-fri", at(2026, 11, 27, 8, 0), at(2026, 11, 30, 7, 30)),  # Fri -> Mon
        ("0 9 1 * *", at(2026, 11, 27, 0, 0), at(2026, 12, 1, 9, 0)),
        ("0 0 29 feb *", at(2026, 3, 1, 0, 0), at(2028, 2, 29, 0, 0)),
        ("0 12 13 * fri", at(2026, 11, 1, 0, 0), at(2026, 11, 6, 12, 0)),  # either day rule
        ("0 8 * * 7", at(2026, 11, 27, 0, 0), at(2026, 11, 29, 8, 0)),  # 7 is Sunday too
    ],
)
def test_next_run(expr, after, expected):
    assert Cron.parse(expr).next_after(after) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * *", "expected 5 fields"),
        ("61 * * * *", "minute must be within 0-59"),
        ("*/0 * * * *", "step in minute must be at least 1"),
        ("0 0 * * funday", "not a number"),
    ],
)
def test_bad_expressions(expr, message):
    with pytest.raises(CronError, match=message):
        Cron.parse(expr)
