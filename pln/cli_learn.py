"""`pln topics`, `pln topics test`, `pln label`, `pln train`, `pln eval`, `pln rescore`.

Relevance that explains itself and learns from the user: test a topic on a text or a stored
item, label items + / -, train a classifier per topic from the labels, see whether it beats the
rules on held-out labels, and re-apply topics and models to everything stored.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP_LABEL = "+ (more like this) or - (less like this); also up/down, 1/-1"


def add_learning_commands(sub, config_arg) -> None:
    """Add the learning commands to the `pln` subparsers; config_arg adds -c/--config."""
    topics = sub.add_parser("topics", help="list topics with their version, counts and model")
    config_arg(topics)
    topics.set_defaults(func=cmd_topics)
    actions = topics.add_subparsers(metavar="ACTION")
    test = actions.add_parser("test", help="show how a topic scores a text or a stored item")
    test.add_argument("topic", help="topic id")
    what = test.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="the text to score")
    what.add_argument("--item", metavar="ID", help="a stored item's id (read-only)")
    test.add_argument("--title", default="", help="with --text: a title")
    test.add_argument("--author", default="", help="with --text: the author's handle")
    # SUPPRESS: `pln topics -c x.yaml test ...` keeps the -c given before `test`.
    test.add_argument("-c", "--config", default=argparse.SUPPRESS, help="config file")
    test.set_defaults(func=cmd_topics_test)

    label = sub.add_parser(
        "label",
        help="say + or - about an item for a topic (or many, from a CSV file)",
        description="pln label ITEM_ID TOPIC +|-   or   pln label --csv FILE "
        "(columns item_id,topic,label; a header row is optional)",
    )
    label.add_argument("item_id", nargs="?", help="the item's id (see `pln sql`, feeds)")
    label.add_argument("topic", nargs="?", help="topic id")
    label.add_argument("label", nargs="?", help=HELP_LABEL)
    label.add_argument("--csv", type=Path, metavar="FILE", help="labels from a CSV file")
    config_arg(label)
    label.set_defaults(func=cmd_label)

    train = sub.add_parser("train", help="train a classifier per topic from your labels")
    train.add_argument("--topic", action="append", default=[], help="only this topic (repeat)")
    train.add_argument("--iterations", type=int, default=20, help="passes over the labels")
    config_arg(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "eval", help="precision, recall, F1 per topic on held-out labels: rules vs model"
    )
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    config_arg(evaluate)
    evaluate.set_defaults(func=cmd_eval)

    rescore = sub.add_parser(
        "rescore", help="re-apply the current topics and models to all stored items"
    )
    rescore.add_argument("-q", "--quiet", action="store_true", help="no report")
    config_arg(rescore)
    rescore.set_defaults(func=cmd_rescore)


def _config(args):
    from pln.config import load_config

    return load_config(args.config, check_sources=False)


def cmd_topics(args) -> int:
    from pln.cli import print_rows
    from pln.learn import overview

    config = _config(args)
    rows, older = [], 0
    for t in overview(config):
        older += t.older
        labels = f"{t.labels_pos}+ {t.labels_neg}-" if t.labels_pos + t.labels_neg else "-"
        rows.append((t.topic, t.version, f"{t.threshold:g}", t.scored, t.kept, labels, _model(t)))
    print_rows(
        ["topic", "version", "threshold", "scored", "kept", "labels", "model"], rows, "table"
    )
    if older:
        print(
            f"{older} decisions were made by an earlier version of their topic; "
            "`pln rescore` re-applies the current ones"
        )
    return 0


def _model(t) -> str:
    if t.model is None:
        return "-"
    meta = t.model.meta
    when = str(meta.get("trained_at", ""))[:10]
    metrics = meta.get("metrics", {})
    f1 = (metrics.get("with_model") or {}).get("f1")
    rules = (metrics.get("rules") or {}).get("f1")
    scores = f", held-out F1 {_num(f1)} vs rules {_num(rules)}" if f1 is not None else ""
    return f"{t.model.label}, {when}{scores}"


def cmd_topics_test(args) -> int:
    from pln.filters.curator import Curator
    from pln.learn import check_topic, stored_item

    config = _config(args)
    check_topic(config, args.topic)
    curator = Curator.for_config(config)
    if args.item:
        item = stored_item(config, args.item)
        decision = curator.explain_item(item, args.topic)
    else:
        decision = curator.explain(args.text, args.topic, title=args.title, author=args.author)
    topic = config.topic(args.topic)
    verdict = "kept" if decision.kept else "not kept"
    print(f"{args.topic}: {verdict}, score {decision.score:g} (threshold {topic.threshold:g})")
    print(f"  reason   {decision.reason}")
    print(f"  version  topic {decision.topic_version}; {decision.model_version}")
    return 0


def cmd_label(args) -> int:
    from pln.learn import label_csv, label_one

    config = _config(args)
    single = (args.item_id, args.topic, args.label)
    if args.csv:
        if any(single):
            print("pln label: give ITEM_ID TOPIC LABEL or --csv FILE, not both", file=sys.stderr)
            return 2
        result = label_csv(config, args.csv)
        for problem in result.problems:
            print(f"pln: skipped {problem}", file=sys.stderr)
        skipped = f"; {len(result.problems)} rows skipped" if result.problems else ""
        print(f"stored {result.stored} labels from {args.csv}{skipped}")
        return 1 if result.problems else 0
    if not all(single):
        print("pln label: usage: pln label ITEM_ID TOPIC +|-  (or --csv FILE)", file=sys.stderr)
        return 2
    row = label_one(config, *single)
    print(f"{row.topic}: item {row.item_id} labelled {'+' if row.label > 0 else '-'}")
    return 0


def cmd_train(args) -> int:
    from pln.filters.classifier import TrainingSettings, models_dir
    from pln.learn import train

    if args.iterations < 1:
        print("pln train: --iterations must be at least 1", file=sys.stderr)
        return 2
    config = _config(args)
    results = train(config, args.topic, TrainingSettings(iterations=args.iterations))
    width = max(len(r.topic) for r in results)
    trained = 0
    for r in results:
        name = r.topic.ljust(width)
        if r.model is None:
            print(f"{name}  skipped: {r.skipped}")
            continue
        trained += 1
        counts = f"{r.n_pos + r.n_neg} labels ({r.n_pos} +, {r.n_neg} -)"
        held = f"held-out {r.held_out}: F1 {_num(r.with_model.f1)} (rules alone {_num(r.rules.f1)})"
        print(f"{name}  model {r.model.label} from {counts}; {held}")
    if trained:
        print(
            f"models in {models_dir(config.outputs.duckdb)}; "
            "`pln rescore` applies them to the stored items, `pln eval` compares"
        )
    return 0


def cmd_eval(args) -> int:
    from pln.cli import print_rows
    from pln.learn import evaluate

    config = _config(args)
    rows = evaluate(config)
    if args.json:
        out = [
            {
                "topic": r.topic,
                "labels": r.labels,
                "held_out": r.held_out,
                "held_out_pos": r.held_out_pos,
                "rules": r.rules.as_dict(),
                "model": r.model.label if r.model else None,
                "with_model": r.with_model.as_dict() if r.with_model else None,
            }
            for r in rows
        ]
        print(json.dumps(out, indent=2))
        return 0
    if not any(r.labels for r in rows):
        print("no labels yet: label items with `pln label ITEM_ID TOPIC +|-` or `--csv FILE`")
        return 0
    table = []
    for r in rows:
        rules = r.rules
        model = r.with_model
        change = ""
        if model is not None and model.f1 is not None and rules.f1 is not None:
            change = f"{model.f1 - rules.f1:+.2f}"
        table.append(
            (
                r.topic,
                r.labels,
                f"{r.held_out} ({r.held_out_pos} +)",
                _num(rules.precision),
                _num(rules.recall),
                _num(rules.f1),
                r.model.label if r.model else "-",
                _num(model.precision) if model else "-",
                _num(model.recall) if model else "-",
                _num(model.f1) if model else "-",
                change,
            )
        )
    columns = ["topic", "labels", "held-out", "rules P", "R", "F1"]
    columns += ["model", "P", "R", "F1", "F1 change"]
    print_rows(columns, table, "table")
    return 0


def cmd_rescore(args) -> int:
    from pln.learn import rescore

    config = _config(args)
    report = rescore(config)
    if args.quiet:
        return 0
    print(f"rescored {report.items} items in {report.seconds:.1f} s")
    for change in report.changes:
        model = f" (model {change.model})" if change.model else ""
        delta = f"+{change.entered} -{change.left}" if change.entered or change.left else "same"
        print(f"  {change.topic}{model}: {change.kept} kept ({delta})")
        for sign, titles, total in (
            ("+", change.entered_titles, change.entered),
            ("-", change.left_titles, change.left),
        ):
            for title in titles:
                print(f"    {sign} {title}")
            if total > len(titles):
                print(f"    {sign} … and {total - len(titles)} more")
    if report.failed:
        print(f"  {len(report.failed)} items could not be rescored and keep their decisions:")
        for line in report.failed[:5]:
            print(f"    {line}")
    print(f"  feeds  {config.outputs.feeds_dir}/ ({len(report.feeds)} files)")
    return 0


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"
