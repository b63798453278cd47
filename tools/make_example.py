"""Render the bundled example data that `make demo` curates (examples/data/).

The words live in examples/content/: the posts of six blogs, Sam Whitfield's X/Twitter timeline
and a #lrnchat transcript. This script adds what real exports carry (dates, ids, t.co links, RSS
and Atom markup, X API v2 pages as saved by twarc2) and writes `expected.json`, the outcomes a test
can assert. The output is a pure function of the content and SEED: run it twice, get equal bytes.
The parts live in tools/pln_example/.

    python tools/make_example.py [--content examples/content] [--out examples/data]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

TOOLS = str(Path(__file__).resolve().parent)
if TOOLS not in sys.path:  # tools/pln_example, wherever the script is run from
    sys.path.insert(0, TOOLS)

from pln_example import SEED  # noqa: E402
from pln_example.blogs import build_posts, feed  # noqa: E402
from pln_example.content import ContentError, load_content  # noqa: E402
from pln_example.outcomes import expected  # noqa: E402
from pln_example.timeline import build_tweets, timeline_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "examples" / "content"
DEFAULT_OUT = ROOT / "examples" / "data"


def generate(root: Path = CONTENT) -> dict[str, str]:
    """Relative path -> file content for everything under examples/data/."""
    content, rng = load_content(root), random.Random(SEED)
    posts = build_posts(rng, content)
    out = {f"feeds/{b.file}": feed(b, posts[b.name]) for b in content.blogs}
    out["feeds/broken.xml"] = content.broken_feed
    tweets = build_tweets(rng, content, posts)
    files = timeline_files(rng, tweets, content)
    out |= {f"x/{name}": "\n".join(lines) + "\n" for name, lines in files.items()}
    out[f"chats/{content.chat.file}"] = content.chat.transcript
    facts = expected(content, posts, tweets, files)
    out["expected.json"] = json.dumps(facts, indent=1, ensure_ascii=False) + "\n"
    return out


def write(out_dir: Path, root: Path = CONTENT) -> list[Path]:
    """Write the example data under out_dir; the paths, in order.

    A file whose bytes are already right is left alone, so its mtime does not tell `pln run` it
    changed.
    """
    written = []
    for rel, text in sorted(generate(root).items()):
        path, data = out_dir / rel, text.encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=CONTENT, help="folder to read from")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write into")
    args = parser.parse_args(argv)
    try:
        written = write(args.out, args.content)
    except ContentError as e:
        sys.exit(f"make_example: {e}")
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
