"""Bench: what a curator left running keeps of the words it met (not a test).

spaCy keeps every new word form for the life of a pipeline; a stream meets new ones for ever.
This curates batches of 500 posts, each with eight words never seen before (names, tags,
links), in one process, and prints the process's memory and spaCy's string count as it goes,
then the curating time. `--growth` sets `Curator.vocab_growth` (default: the shipped limit;
`--growth 0` means no limit, as before the pipeline was rebuilt).

    python bench/bench_vocab.py [--items 100000] [--growth 0]
"""

from __future__ import annotations

import argparse
import random
import time

from pln.config import TopicConfig
from pln.filters.curator import VOCAB_GROWTH, Curator
from pln.record import Item

BATCH = 500


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def posts(start: int, rng: random.Random) -> list[Item]:
    def word() -> str:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 9)))

    return [
        Item.create(
            source="x",
            platform="twitter",
            native_id=str(n),
            kind="post",
            text=f"Tip {n}: spaced repetition with {word()} and {word()} by @{word()} "
            f"#{word()} https://x.example/{word()} {word()} {word()}",
        )
        for n in range(start, start + BATCH)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--growth", type=int, default=VOCAB_GROWTH, help="0: no limit")
    args = parser.parse_args()
    topic = TopicConfig(id="spaced", title="Spaced", phrases=("spaced repetition",))
    curator = Curator((topic,))
    curator.vocab_growth = args.growth or 10**12
    curator.setup()
    rng = random.Random(1)
    busy = 0.0
    print(f"vocab_growth {args.growth or 'none'}: {args.items:,} posts, 8 new words each")
    for start in range(0, args.items, BATCH):
        batch = posts(start, rng)
        began = time.perf_counter()
        curator.curate(batch)
        busy += time.perf_counter() - began
        done = start + BATCH
        if done % (args.items // 10) == 0:
            strings = len(curator.nlp.vocab.strings)
            print(f"  {done:>8,} posts  RSS {rss_mb():6.0f} MB  strings {strings:>9,}")
    print(f"curating took {busy:.2f} s ({args.items / busy:,.0f} posts/s); "
          f"pipeline built again {curator.rebuilds} times")  # fmt: skip


if __name__ == "__main__":
    main()
