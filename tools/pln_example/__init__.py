"""The parts of tools/make_example.py: content files in, example data out.

content reads examples/content/; blogs writes the feeds; timeline and x_api the X/Twitter
exports; outcomes expected.json. Every random choice comes from one generator seeded with SEED,
in a fixed order, so the output is a pure function of the content.
"""

from datetime import UTC, datetime

SEED = 2026
START = datetime(2026, 8, 3, tzinfo=UTC)  # blog posts and unlinked tweets fall between these
END = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
