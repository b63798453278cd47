"""`pln topics`, `pln topics test`, `pln label`, `pln train`, `pln eval`, `pln rescore`.

Relevance that explains itself and learns from the user: test a topic on a text, a file of
texts or a stored item, find phrases a topic lacks, label items + / - (and see which labels
would teach the most), train one model for all topics, see whether it beats the rules
(cross-validated), and re-apply topics and the model to everything stored.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from pln.errors import UsageError
from pln.progress import counted

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
    what.add_argument(
        "--file",
        type=Path,
        metavar="FILE",
        help="many texts: one per line, or TSV or CSV (',' or ';') with a header naming text "
        "(and id, title, label +/-: then precision and recall are printed); '-' reads stdin",
    )
    test.add_argument("--title", default="", help="with --text: a title")
    test.add_argument("--author", default="", help="with --text: the author's handle")
    # SUPPRESS: `pln topics -c x.yaml test ...` keeps the -c given before `test`.
    test.add_argument("-c", "--config", default=argparse.SUPPRESS, help="config file")
    test.set_defaults(func=cmd_topics_test)
    suggest = actions.add_parser(
        "suggest", help="phrases and hashtags the topic lacks, from items you want"
    )
    suggest.add_argument("topic", help="topic id")
    suggest.add_argument("-n", type=int, default=15, help="how many of each (default 15)")
    suggest.add_argument("-c", "--config", default=argparse.SUPPRESS, help="config file")
    suggest.set_defaults(func=cmd_topics_suggest)
    _term_command(
        actions,
        "add",
        cmd_topics_add,
        help="add phrases (and #hashtags) to a topic in the config file",
        description="pln topics add TOPIC TERM [TERM ...]: each TERM becomes a phrase, or a "
        "hashtag when it starts with '#'; the file keeps its comments and layout",
        none="add the terms to the topic's `none` (an item with one is not kept) instead",
    )
    _term_command(
        actions,
        "remove",
        cmd_topics_remove,
        help="take phrases (and #hashtags) out of a topic in the config file",
        description="pln topics remove TOPIC TERM [TERM ...]: as `pln topics add`, the other "
        "way; a topic left with nothing to match by is refused",
        none="take the terms out of `none`",
    )

    label = sub.add_parser(
        "label",
        help="say + or - about an item for a topic (or many, from a CSV file)",
        description="pln label ITEM_ID TOPIC +|-   or   pln label --csv FILE "
        "(columns item_id,topic,label separated by ',', ';' or tabs; a header row is optional "
        "and may say id for item_id; a row with an empty label is left out)",
    )
    label.add_argument("item_id", nargs="?", help="the item's id (see `pln sql`, feeds)")
    label.add_argument("topic", nargs="?", help="topic id")
    label.add_argument("label", nargs="?", help=HELP_LABEL)
    label.add_argument("--csv", type=Path, metavar="FILE", help="labels from a CSV file")
    label.add_argument(
        "--suggest",
        metavar="TOPIC",
        help="list the items whose labels would teach the model the most for TOPIC",
    )
    label.add_argument("-n", type=int, default=10, help="with --suggest: how many (default 10)")
    config_arg(label)
    label.set_defaults(func=cmd_label)

    train = sub.add_parser("train", help="train the model (one for all topics) from your labels")
    train.add_argument(
        "--force", action="store_true", help="train even when the labels did not change"
    )
    config_arg(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "eval", help="precision, recall, F1 per topic, cross-validated: rules vs model"
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


def _term_command(actions, name: str, func, *, help: str, description: str, none: str) -> None:
    """`pln topics add` / `remove`: TOPIC TERM [TERM ...] [--none] [-c FILE]."""
    command = actions.add_parser(name, help=help, description=description)
    command.add_argument("topic", help="topic id")
    command.add_argument("terms", nargs="+", metavar="TERM", help="a phrase, or #hashtag")
    command.add_argument("--none", action="store_true", help=none)
    command.add_argument("-c", "--config", default=argparse.SUPPRESS, help="config file")
    command.set_defaults(func=func)


def _config(args):
    from pln.config import load_config

    return load_config(args.config)


def warn_older_models(config) -> None:
    """Say, in one line on stderr (also with -q: cron mails it), when the only models beside
    the store were saved by an older pln in a format this one does not read: without the
    line, runs would curate with the rules alone and never say why."""
    from pln.filters.model_files import models_dir, older_models_note

    root = models_dir(config.outputs.duckdb)
    note = older_models_note(root, [t.id for t in config.topics])
    if note:
        print(f"pln: warning: {note}", file=sys.stderr, flush=True)
    _warn_labels_not_in_model(config, root)


def _warn_labels_not_in_model(config, root) -> None:
    """The line of `unseen_line` when the current model was trained without a topic of the
    config that has labels; the store is read only then (a run where every topic is in the
    model, or with no model, does not open it)."""
    from pln.filters.model_files import saved_versions
    from pln.sinks.store import Store, StoreBusy

    versions = saved_versions(root)
    if not versions:
        return
    version, _, meta = versions[-1]
    trained = set(meta.get("topics", ()))
    missing = [t.id for t in config.topics if t.id not in trained]
    db = config.outputs.duckdb
    if not missing or not db.exists():
        return
    try:
        with Store(db, read_only=True, wait=5) as store:
            rows = store.con.execute(
                "SELECT topic, count(*) FROM labels WHERE topic IN (SELECT unnest($t)) "
                "GROUP BY topic ORDER BY topic",
                {"t": missing},
            ).fetchall()
    except StoreBusy:
        return
    unseen = {topic: n for topic, n in rows if n}
    if unseen:
        print(unseen_line(f"v{version}", unseen), file=sys.stderr, flush=True)


def cmd_topics(args) -> int:
    from pln.learn import overview
    from pln.table import print_rows

    config = _config(args)
    warn_older_models(config)
    topics = overview(config)
    rows, older = [], 0
    for t in topics:
        older += t.older
        labels = f"{t.labels_pos}+ {t.labels_neg}-" if t.labels_pos + t.labels_neg else "-"
        rows.append((t.topic, t.version, f"{t.threshold:g}", t.scored, t.kept, labels, _model(t)))
    print_rows(
        ["topic", "version", "threshold", "scored", "kept", "labels", "model"], rows, "table"
    )
    if older:
        print(
            f"{older:,} decisions were made by an earlier version of their topic; "
            "`pln rescore` re-applies the current ones"
        )
    if new := [t.topic for t in topics if t.unscored]:
        named = new[0] if len(new) == 1 else f"{', '.join(new[:-1])} and {new[-1]}"
        print(
            f"{named} {'was' if len(new) == 1 else 'were'} added after the stored items were "
            "scored (runs score only the items they read): `pln rescore` scores them for "
            + ("it" if len(new) == 1 else "those topics")
        )
    return 0


def _model(t) -> str:
    if t.model is None:
        return "-"
    when = str(t.model.meta.get("trained_at", ""))[:10]
    cv = {row["topic"]: row for row in t.model.meta.get("cross_validation", {}).get("topics", [])}
    row = cv.get(t.topic)
    scores = ""
    if row and row["model"]["f1"] is not None:
        scores = f", cv F1 {_num(row['model']['f1'])} vs rules {_num(row['rules']['f1'])}"
    decides = "model decides" if t.uses_model else "rules decide"
    if t.unseen:
        decides = "rules decide: trained without this topic"
    return f"{t.model.label} {when} ({decides}{scores})"


def unseen_line(model: str, unseen: dict[str, int]) -> str:
    """One line on the labels of topics the model was trained without (learn.labels_not_in_model)."""
    named = " and ".join(f"{counted(n, 'label')} of topic {t!r}" for t, n in unseen.items())
    return (
        f"pln: warning: model {model} was trained without {named} (not in the config then), "
        "so the rules decide there; run `pln train` to use them"
    )


def cmd_topics_test(args) -> int:
    from pln.filters.curator import Curator
    from pln.learn import stored_item

    config = _config(args)
    config.topic(args.topic)  # raises for a topic the config lacks
    warn_older_models(config)
    curator = Curator.for_config(config, entities=False)
    if args.file:
        return _test_file(curator, config, args.topic, args.file)
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


def _test_file(curator, config, topic: str, path: Path) -> int:
    """`pln topics test TOPIC --file FILE`: one line out per text, a summary on stderr."""
    import time

    from pln.filters.scores import Scores
    from pln.learn import read_texts
    from pln.record import Item

    rows = read_texts(path)
    if not rows:
        print(f"pln: warning: {path}: no texts to test", file=sys.stderr)
    loading = time.perf_counter()
    curator.setup()  # spaCy and the model: once, whatever the number of texts
    started = time.perf_counter()
    loading = started - loading
    items = [
        Item.create(
            source="test",
            platform="text",
            kind="post",
            native_id=f"{n}:{row.id}",
            title=row.title,
            text=row.text,
        )
        for n, row in enumerate(rows)
    ]
    judged = curator.judge(items, [topic], check_source=False)
    out = sys.stdout
    kept, wanted = [], []
    for row, per_topic in zip(rows, judged, strict=True):
        d = per_topic[topic].decision
        out.write(f"{row.id}\t{'kept' if d.kept else '-'}\t{d.score:g}\t{d.reason}\n")
        if row.label is not None:
            kept.append(d.kept)
            wanted.append(row.label)
    seconds = time.perf_counter() - started
    summary = (
        f"{counted(len(rows), 'text')} in {seconds:.2f} s ({len(rows) / max(seconds, 1e-9):.0f}/s"
    )
    summary += f", after {loading:.1f} s loading spaCy)"
    summary += f"; {sum(1 for j in judged if j[topic].decision.kept):,} kept"
    if wanted:
        s = Scores.of(kept, wanted)
        summary += (
            f"; against the labels of {len(wanted):,}{_unlabelled(len(rows) - len(wanted))}: "
            f"precision {_num(s.precision)}, "
            f"recall {_num(s.recall)}, F1 {_num(s.f1)}"
        )
    print(summary, file=sys.stderr)
    return 0


def _unlabelled(n: int) -> str:
    return f" ({counted(n, 'text')} unlabelled)" if n else ""


def cmd_topics_suggest(args) -> int:
    from pln.learn import topic_suggestions

    config = _config(args)
    found = topic_suggestions(config, args.topic, _at_least_one(args.n))
    print(
        f"{args.topic}: from {counted(found.wanted, 'item')} you want (labelled + or kept) "
        f"against {found.rest:,} others"
    )
    if not found.wanted:
        print("  nothing to learn from yet: label items + or run `pln run` first")
        return 0
    for title, terms in (("phrases", found.phrases), ("hashtags", found.hashtags)):
        if not terms:
            print(f"  {title}: none stand out")
            continue
        print(f"  {title} (in the topic's items / elsewhere, log-odds z):")
        for t in terms:
            also = f"   also in {t.also[1]:,} kept for {t.also[0]}" if t.also else ""
            print(f"    {t.term:<32} {t.in_topic:>4} / {t.elsewhere:<5} z {t.z:.1f}{also}")
    topic = shlex.quote(args.topic)
    if found.phrases or found.hashtags:
        # Words typical of another topic too would put items in the wrong one: offered last.
        best = sorted(found.phrases, key=lambda t: t.also is not None)[:5]
        phrases = ", ".join(t.term for t in best)
        print(f"  add the ones that fit to topics[{args.topic}].phrases, e.g. [{phrases}]")
        example = " ".join(shlex.quote(t.term) for t in best[:2])
        print(f"  (`pln topics add {topic} {example}` edits the config for you)")
    if found.exclusions:
        print(
            f"  to keep out near-misses: in the {counted(found.unwanted, 'item')} you labelled -, in none "
            "you want (items with it, log-odds z):"
        )
        for t in found.exclusions:
            print(f"    {t.term:<32} {t.in_topic:>4}         z {t.z:.1f}")
        example = " ".join(shlex.quote(t.term) for t in found.exclusions[:2])
        print(
            f"  the ones that fit go to topics[{args.topic}].none "
            f"(`pln topics add {topic} --none {example}`)"
        )
    return 0


def cmd_topics_add(args) -> int:
    from pln.topic_edit import add_terms

    edited = add_terms(_config(args), args.topic, args.terms, exclude=args.none)
    return _say_edited(edited, args.topic, "added to", "has already")


def cmd_topics_remove(args) -> int:
    from pln.topic_edit import remove_terms

    edited = remove_terms(_config(args), args.topic, args.terms, exclude=args.none)
    return _say_edited(edited, args.topic, "removed from", "has no")


def _say_edited(edited, topic: str, done: str, unchanged: str) -> int:
    what = [f"phrase {p!r}" for p in edited.phrases] + [f"#{h}" for h in edited.hashtags]
    what += [f"none {x!r}" for x in edited.none]
    if edited.changed:
        print(f"{edited.path}: {done} {topic}: {', '.join(what)}")
    if edited.unchanged:
        print(f"{topic} {unchanged}: {', '.join(edited.unchanged)}")
    if edited.changed:
        print(
            "the next run uses it and `pln rescore` applies it to the items stored already "
            "(a running `pln stream` does both at once)"
        )
    return 0


def cmd_label(args) -> int:
    from pln.learn import label_csv, label_one

    config = _config(args)
    single = (args.item_id, args.topic, args.label)
    if args.suggest:
        if any(single) or args.csv:
            print("pln label: --suggest TOPIC takes no other arguments", file=sys.stderr)
            return 2
        return _suggest_labels(config, args.suggest, _at_least_one(args.n))
    if args.csv:
        if any(single):
            print("pln label: give ITEM_ID TOPIC LABEL or --csv FILE, not both", file=sys.stderr)
            return 2
        result = label_csv(config, args.csv)
        for problem in result.problems:
            print(f"pln: skipped {problem}", file=sys.stderr)
        if not (result.stored or result.problems):
            print(f"pln: warning: {args.csv}: no labels in it", file=sys.stderr)
        skipped = f"; {counted(len(result.problems), 'row')} skipped" if result.problems else ""
        if result.unlabelled:
            skipped += f"; {counted(result.unlabelled, 'row')} without a label left out"
        print(f"stored {counted(result.stored, 'label')} from {args.csv}{skipped}")
        return 2 if result.problems else 0  # the rows skipped are the user's to mend
    if not all(single):
        print("pln label: usage: pln label ITEM_ID TOPIC +|-  (or --csv FILE)", file=sys.stderr)
        return 2
    row = label_one(config, *single)
    print(f"{row.topic}: item {row.item_id} labelled {'+' if row.label > 0 else '-'}")
    return 0


def _suggest_labels(config, topic: str, n: int) -> int:
    from pln.learn import label_suggestions

    found = label_suggestions(config, topic, n)
    if not found:
        print(f"{topic}: nothing to suggest ({_why_nothing(config, topic)})")
        return 0
    print(f"{topic}: label these to teach the most (`pln label ITEM_ID {topic} +|-`)")
    for s in found:
        text = " ".join((s.item.title or s.item.text).split())
        text = text if len(text) <= 70 else text[:69] + "…"
        print(f"  {s.item.id}  {s.why:<40} {text}")
    return 0


def _why_nothing(config, topic: str) -> str:
    from pln.filters.classifier import current_model, models_dir

    ref = current_model(models_dir(config.outputs.duckdb))
    if ref is not None and ref.meta.get("use", {}).get(topic):
        return "the model is sure of every unlabelled item, and the rules agree"
    return "no unlabelled item matches its rules; until the model decides, only those are ranked"


def cmd_train(args) -> int:
    from pln.filters.classifier import models_dir
    from pln.filters.learning import TrainingSettings
    from pln.learn import train

    config = _config(args)
    settings = TrainingSettings()
    report = train(config, settings, force=args.force)
    trained = report.trained
    if report.model is None and report.unchanged is None:
        raise _too_few_labels(config, ("train on", "train a model"), trained, report.ignored)
    _say_ignored(report.ignored)
    counts = (
        f"{counted(trained.n_pos + trained.n_neg, 'label')} "
        f"({trained.n_pos:,} +, {trained.n_neg:,} -)"
    )
    if report.unchanged is not None:
        print(
            f"labels unchanged since model {report.unchanged.label} ({counts}): no new model "
            "(--force trains anyway)"
        )
        return 0
    evaluation = trained.evaluation
    print(
        f"model {report.model.label} from {counts}, "
        f"{trained.pool:,} unlabelled items as weak labels; cross-validated ({evaluation.folds} "
        f"folds; prior strength {evaluation.strength:g}, the fewest mistakes of "
        f"{', '.join(f'{s:g}' for s in settings.strengths)}):"
    )
    _print_eval(trained.evaluation.topics)
    if trained.lift is not None:
        print(f"lift: {trained.lift.describe()}")
    print(
        f"model in {models_dir(config.outputs.duckdb)}; "
        "`pln rescore` applies it to the stored items"
    )
    return 0


def _print_eval(rows) -> None:
    from pln.table import print_rows

    table = []
    for r in rows:
        table.append(
            (
                r.topic,
                f"{r.n_pos}+ {r.n_neg}-",
                _num(r.rules.precision),
                _num(r.rules.recall),
                _num(r.rules.f1) + _ci(r.rules_f1_ci),
                _num(r.model.precision),
                _num(r.model.recall),
                _num(r.model.f1) + _ci(r.model_f1_ci),
                "model" if r.use_model else "rules",
            )
        )
    columns = ["topic", "labels", "rules P", "R", "F1 [95% CI]", "model P", "R"]
    columns += ["F1 [95% CI]", "decides"]
    print_rows(columns, table, "table")
    for r in rows:
        if r.note:
            print(f"  {r.topic}: {r.note}")


def _say_ignored(ignored: dict[str, int]) -> None:
    """One line for the labels of topics no longer in the config, which no model learns."""
    if ignored:
        topics = ", ".join(sorted(ignored))
        print(
            f"{counted(sum(ignored.values()), 'label')} for topics not in the config: {topics}; ignored"
        )


def _too_few_labels(config, doing: tuple[str, str], counts, ignored: dict[str, int]) -> UsageError:
    """`pln train` and `pln eval` without the labels to do it: a user's to mend (exit 2), one
    line saying how. doing: what there is nothing to do with no label, and with too few;
    counts: n_pos, n_neg and skipped (the reason) of the labels of the config's topics."""
    gone = ""
    if ignored:
        n = counted(sum(ignored.values()), "label")
        gone = f" ({n} of topics not in it, ignored: {', '.join(sorted(ignored))})"
    where = f"for the topics of {config.path}{gone}"
    if counts.n_pos + counts.n_neg == 0:
        return UsageError(
            f"nothing to {doing[0]}: no labels yet {where}; label items with "
            "`pln label ITEM_ID TOPIC +|-`, `pln label --csv FILE` or the links of the served "
            "feeds and teach pages (`pln serve`)"
        )
    return UsageError(
        f"too few labels to {doing[1]} {where}: {counts.skipped}; label more with `pln label` "
        "(`pln label --suggest TOPIC` lists the items that teach the most)"
    )


def _ci(ci) -> str:
    return f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else ""


def cmd_eval(args) -> int:
    from pln.learn import evaluate

    config = _config(args)
    result = evaluate(config)
    if result.skipped:
        raise _too_few_labels(config, ("evaluate", "evaluate"), result, result.ignored)
    if args.json:
        out = {
            "folds": result.folds,
            "current_model": result.model.label if result.model else None,
            "skipped": result.skipped,
            "labels_ignored": result.ignored,  # topic -> labels, for topics not in the config
            "topics": [r.as_dict() for r in result.topics],
        }
        print(json.dumps(out, indent=2))
        return 0
    _say_ignored(result.ignored)
    print(
        f"each label scored by a model trained without it ({result.folds}-fold "
        "cross-validation), beside the rules alone on the same items:"
    )
    _print_eval(result.topics)
    return 0


def cmd_rescore(args) -> int:
    from pln.learn import rescore

    config = _config(args)
    warn_older_models(config)
    report = rescore(config)
    if not args.quiet:
        print(rescore_lines(report, config))
    return 0


def rescore_lines(report, config) -> str:
    """What a rescore changed, topic by topic, for a person (pln.learn.RescoreReport)."""
    lines = [f"rescored {counted(report.items, 'item')} in {report.seconds:.1f} s"]
    for change in report.changes:
        model = f" (model {change.model})" if change.model else ""
        delta = f"+{change.entered:,} -{change.left:,}" if change.entered or change.left else "same"
        if change.entered_labelled or change.left_labelled:
            new_in = change.entered - change.entered_labelled
            new_out = change.left - change.left_labelled
            delta += (
                f": unlabelled +{new_in:,} -{new_out:,}, "
                f"labelled +{change.entered_labelled:,} -{change.left_labelled:,}"
            )
        lines.append(f"  {change.topic}{model}: {change.kept:,} kept ({delta})")
        for sign, titles, total in (
            ("+", change.entered_titles, change.entered),
            ("-", change.left_titles, change.left),
        ):
            lines += [f"    {sign} {title}" for title in titles]
            if total > len(titles):
                lines.append(f"    {sign} … and {total - len(titles):,} more")
    if report.failed:
        lines.append(
            f"  {counted(len(report.failed), 'item')} could not be rescored and "
            + ("keeps its decision:" if len(report.failed) == 1 else "keep their decisions:")
        )
        lines += [f"    {line}" for line in report.failed[:5]]
    lines.append(f"  feeds  {config.outputs.feeds_dir}/ ({counted(len(report.feeds), 'file')})")
    return "\n".join(lines)


def _at_least_one(n: int) -> int:
    if n < 1:
        raise UsageError(f"-n must be 1 or more, got {n}")
    return n


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"
