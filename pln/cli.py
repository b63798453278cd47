"""The `pln` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from pln import progress
from pln.errors import PlnError
from pln.table import print_rows

DEFAULT_CONFIG = "pln.yaml"
EXIT_SOURCES_FAILED = 3  # `pln run --strict`: the run finished, but some sources failed
EXIT_PIPE_CLOSED = 141  # the reader of stdout went away (`| head`): 128 + SIGPIPE, as C tools


def main(argv: list[str] | None = None) -> int:
    _tune_native_libraries()  # first: a command's parser may import what loads them
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    _quiet_library_logs()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    before = os.environ.get(progress.ENV)
    if getattr(args, "quiet", False):
        os.environ[progress.ENV] = "0"  # -q wins over PLN_PROGRESS
    elif not getattr(args, "json", False):
        os.environ.setdefault(progress.ENV, "1")
    on_sigterm = _sigterm_handler()
    try:
        code = args.func(args) or 0
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
        return code
    except BrokenPipeError:
        return _stop_writing_stdout()
    except PlnError as exc:
        print(f"pln: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return _interrupted(args)
    finally:  # main() may be called again in the same process (tests, `pln schedule`)
        if before is None:
            os.environ.pop(progress.ENV, None)
        else:
            os.environ[progress.ENV] = before
        if on_sigterm is not None:
            signal.signal(signal.SIGTERM, on_sigterm)


def _sigterm_handler():
    """This process's SIGTERM handler, for main() to put back (None: not the main thread, or
    one not set from Python, which cannot be put back)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.getsignal(signal.SIGTERM)


def _interrupted(args) -> int:
    """Ctrl-C is exit 130, as shells expect. SIGTERM (`systemctl stop`, `docker stop`) is how
    a service is stopped: `pln stream`, `ingest` and `schedule` end cleanly with 0 then; a
    one-off command such as `pln run` was interrupted (130)."""
    from pln.cli_stream import terminated

    if terminated() and getattr(args, "service", False):
        print("pln: stopped (SIGTERM)", file=sys.stderr)
        return 0
    print("pln: interrupted", file=sys.stderr)
    return 130


def _seconds(text: str) -> float:
    """A `--wait` argument: seconds, 0 or more (argparse says it in one line, exit 2)."""
    from pln.sinks.store_db import wait_seconds

    value = wait_seconds(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text!r}")
    return value


def _stop_writing_stdout() -> int:
    """The program reading our output stopped (`pln sql ... | head`): stop quietly, as `cat`
    does. Output still buffered goes to /dev/null, or Python would fail again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_PIPE_CLOSED


class _DropBeamNoise(logging.Filter):
    """Beam warns about optional Google Cloud clients on import, and about a running mode we
    choose on purpose (see pipelines/runner.py); users need not see either."""

    NOISE = ("apitools not found", "direct_running_mode should be")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in self.NOISE)


def _quiet_library_logs() -> None:
    logging.basicConfig(level=logging.WARNING, format="pln: %(levelname)s: %(message)s")
    for level in (logging.WARNING, logging.ERROR, logging.CRITICAL):
        # "pln: warning: ...", as every other warning line says it
        logging.addLevelName(level, logging.getLevelName(level).lower())
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropBeamNoise())


def _tune_native_libraries() -> None:
    """Defaults for native libraries, unless the user set them; set before they load, and
    inherited by the processes pln starts.

    - Arrow's buffers from the C library's malloc. Arrow's default, mimalloc, backs its memory
      with transparent huge pages here, and the kernel zeroes each 2 MB page whole when it is
      first touched: 0.1-0.2 s of the 4 s of CPU of a 500-feed run (perf), in the workers.
    - One OpenBLAS thread. numpy's import starts another, which spins for 0.1 s of CPU waiting
      for work, on cores the crew needs; pln's matrices are too small to share out anyway.
    """
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


# The commands each group adds, in the order `pln --help` lists them.
_COMMAND_GROUPS = {
    "core": ("run", "validate", "schedule", "forget", "compact"),
    "sources": ("sources",),
    "learning": ("topics", "label", "train", "eval", "rescore"),
    "stream": ("ingest", "stream", "health"),
    "sql": ("sql",),
    "serve": ("serve",),
}


class _Parser(argparse.ArgumentParser):
    """An argument mistake is one line, `pln forget: error: argument --days: ...`, without the
    usage lines before it (`--help` has them). Subcommands' parsers are of the same class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. Given the command typed, only its group is added: building
    every command's parser, and importing the web and source commands' modules for it, took
    8 ms of each `pln run` before it started (2.4 ms now). Anything else (`pln`, `pln --help`,
    a mistyped command) gets every command."""
    parser = _Parser(
        prog="pln", description="Curate your Personal Learning Network into topic feeds."
    )
    sub = parser.add_subparsers(metavar="COMMAND")
    known = any(command in names for names in _COMMAND_GROUPS.values())
    groups = [g for g, names in _COMMAND_GROUPS.items() if not known or command in names]
    if "core" in groups:
        _add_core_commands(sub)
    if "sources" in groups:
        from pln.cli_sources import add_source_commands

        add_source_commands(sub, _config_arg)
    if "learning" in groups:
        from pln.cli_learn import add_learning_commands

        add_learning_commands(sub, _config_arg)
    if "stream" in groups:
        from pln.cli_stream import add_stream_commands

        add_stream_commands(sub)
    if "sql" in groups:
        _add_sql_command(sub)
    if "serve" in groups:
        from pln.web.cli import add_serve_command

        add_serve_command(sub)
    return parser


def _add_core_commands(sub) -> None:
    run = sub.add_parser("run", help="run the batch job once: read, curate, write DuckDB and feeds")
    _config_arg(run)
    run.add_argument("--full", action="store_true", help="ignore source cursors; re-read all")
    run.add_argument(
        "--strict",
        action="store_true",
        help=f"exit with code {EXIT_SOURCES_FAILED} when some sources failed (default: 0 and a "
        "warning on stderr)",
    )
    _output_args(run)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("validate", help="check a config file without running anything")
    _config_arg(check)
    check.set_defaults(func=cmd_validate)

    sched = sub.add_parser("schedule", help="run the batch job on the config's cron schedule")
    _config_arg(sched)
    sched.add_argument("--max-runs", type=int, help="stop after this many runs")
    _output_args(sched)
    sched.set_defaults(func=cmd_schedule, service=True)

    forget = sub.add_parser(
        "forget",
        help="forget what no source delivered for a while (labelled items and what the feeds "
        "show stay)",
    )
    _config_arg(forget)
    forget.add_argument(
        "--days",
        type=int,
        help="forget what no source delivered in this many days (default: outputs.keep_days)",
    )
    forget.add_argument(
        "--item",
        action="append",
        metavar="ID_OR_LINK",
        help="forget this item now, whatever its age (a post deleted upstream); it stays out "
        "when a source delivers it again; repeatable",
    )
    forget.add_argument("--dry-run", action="store_true", help="count, change nothing")
    forget.add_argument("--json", action="store_true", help="print what it did as JSON")
    forget.set_defaults(func=cmd_forget)

    compact = sub.add_parser(
        "compact",
        help="give the database's free space back to the disk (a checked copy replaces the file)",
    )
    _config_arg(compact)
    compact.add_argument("--db", help="DuckDB file (default: outputs.duckdb of the config)")
    compact.add_argument("--json", action="store_true", help="print what it did as JSON")
    compact.set_defaults(func=cmd_compact)


def _add_sql_command(sub) -> None:
    sql = sub.add_parser("sql", help="query the curated database (opened read-only)")
    sql.add_argument("query", help='e.g. "SELECT topic, count(*) FROM decisions GROUP BY 1"')
    _config_arg(sql)
    sql.add_argument("--db", help="DuckDB file (default: outputs.duckdb of the config)")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.add_argument(
        "--wait",
        type=_seconds,
        metavar="SECONDS",
        help="how long to wait while a run holds the database (default 10, or $PLN_LOCK_WAIT)",
    )
    sql.set_defaults(func=cmd_sql)


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default=DEFAULT_CONFIG, help="config file (default: pln.yaml)")


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def cmd_validate(args) -> int:
    from pln.sources.registry import load_checked_config

    config = load_checked_config(args.config)
    sources = progress.counted(len(config.sources), "source")
    if disabled := sum(not src.enabled for src in config.sources):
        sources += f" ({disabled:,} disabled)"  # `enabled: false`: runs and ingest skip them
    print(
        f"{args.config}: ok ({sources}, {progress.counted(len(config.topics), 'topic')}: "
        f"{', '.join(t.id for t in config.topics)})"
    )
    return 0


def cmd_run(args) -> int:
    from pln.cli_stream import stop_on_sigterm
    from pln.sources.registry import load_checked_config

    config = load_checked_config(args.config)
    stop_on_sigterm()
    from pln.pipelines.batch import run_batch
    from pln.summary import failed_sources_line

    summary = run_batch(config, full=args.full)
    _print_summary(summary, config, args, indent=2)
    from pln.cli_learn import warn_older_models

    warn_older_models(config)  # once a run, after the summary: not lost in the progress lines
    if args.quiet:
        _warn_moved(summary.stats["sources"].get("moved", {}), config)
    failed = summary.stats["sources"]["errors"]
    if failed:
        # On stderr even with -q: the line cron mails, while a run with every source fine
        # stays silent.
        read = sum(src.enabled for src in config.sources)  # a disabled source is not tried
        print(f"pln: warning: {failed_sources_line(failed, read)}", file=sys.stderr)
        return EXIT_SOURCES_FAILED if args.strict else 0
    return 0


def _warn_moved(moved: dict[str, str], config) -> None:
    """With -q the summary that names moved feeds is not printed; cron mails these lines,
    until the user updates the url (pln never edits the config)."""
    from pln.summary import moved_line

    for name in sorted(moved):
        print(f"pln: warning: {moved_line(name, moved[name], config)}", file=sys.stderr)


def _print_summary(summary, config, args, indent: int | None = None) -> None:
    """The run summary as text, as JSON (`--json`), or nothing (`--quiet`)."""
    from pln.summary import format_run_summary

    if args.json:
        print(json.dumps(summary.as_dict(), indent=indent, default=str), flush=True)
    elif not args.quiet:
        print(format_run_summary(summary, config), flush=True)


def cmd_schedule(args) -> int:
    from pln.cli_stream import stop_on_sigterm
    from pln.errors import ConfigError
    from pln.sources.registry import load_checked_config

    config = load_checked_config(args.config)
    if not config.schedule.cron:
        raise ConfigError(args.config, "schedule.cron", "add at least one cron expression")
    from pln.cli_learn import warn_older_models
    from pln.pipelines.batch import run_batch
    from pln.schedule import Scheduler
    from pln.sinks.store import Store

    def run_and_report():
        current = scheduler.config  # the last good config: a broken edit changes nothing
        _print_summary(run_batch(current), current, args)  # one JSON line per run
        warn_older_models(current)

    last_run = None
    if config.outputs.duckdb.exists():
        with Store(config.outputs.duckdb, read_only=True) as store:
            # A run that never finished (killed, a reboot, a failure) is a missed slot.
            finished = "SELECT max(started_at) FROM runs WHERE finished_at IS NOT NULL"
            last_run = store.sql(finished)[1][0][0]
    log = (
        (lambda _line: None) if args.quiet or args.json else (lambda line: print(line, flush=True))
    )
    from pln.pipelines.config_watch import ConfigWatch

    watch = ConfigWatch(config, say=log)
    scheduler = Scheduler(config, run_and_report, last_run=last_run, log=log, watch=watch)
    stop_on_sigterm()
    scheduler.loop(args.max_runs)
    return 0


def cmd_forget(args) -> int:
    from pln.errors import UsageError
    from pln.sources.registry import load_checked_config

    config = load_checked_config(args.config)
    if args.item:
        if args.days is not None:
            raise UsageError("pln forget: give either --days or --item, not both")
        return _forget_items(config, args)
    days = config.outputs.keep_days if args.days is None else args.days
    if days < 1 and args.days is None:
        raise UsageError(
            f"pln forget: outputs.keep_days is not set (or 0) in {args.config}, which keeps "
            "everything; give --days N, or set keep_days to 1 or more"
        )
    if days < 1:
        raise UsageError(f"pln forget: give --days N of at least 1, got {days}")
    from pln.sinks.retention import forget_old
    from pln.sinks.store_forget import forgotten_line

    db = config.outputs.duckdb
    with _forget_lock(db, args.dry_run), _forget_store(db, args.dry_run) as store:
        forgotten = forget_old(store, config, days=days, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(forgotten.as_dict(days), indent=2))
    else:
        verb = "would forget" if args.dry_run else "forgot"
        print(f"{verb} {forgotten_line(forgotten.as_dict(days))}")
        print(
            f"  database  {db} ({db.stat().st_size / 1e6:,.1f} MB; freed space is reused, "
            "`pln compact` gives it back to the disk)"
        )
    return 0


def _forget_items(config, args) -> int:
    """`pln forget --item`: these items leave the store and the feeds now."""
    from pln.errors import UsageError
    from pln.sinks.feeds import render_feeds
    from pln.sinks.feeds_state import record_render
    from pln.sinks.store_forget import forget_items

    db = config.outputs.duckdb
    with _forget_lock(db, args.dry_run), _forget_store(db, args.dry_run) as store:
        items, missing = forget_items(store.db, args.item, dry_run=args.dry_run)
        if not items:
            raise UsageError(f"pln forget: no item with id or link {missing[0]!r}")
        if not args.dry_run:
            record_render(db, render_feeds(store, config))  # the feeds no longer show them
    if args.json:
        ids = [item_id for item_id, *_ in items]
        labels = sum(n for *_, n in items)
        print(
            json.dumps(
                {"items": ids, "labels": labels, "not_found": missing, "dry_run": args.dry_run}
            )
        )
        return 0
    verb = "would forget" if args.dry_run else "forgot"
    for item_id, title, labels in items:  # their labels go too
        also = f" (and its {progress.counted(labels, 'label')})" if labels else ""
        print(f"{verb} {item_id}: {title or '(no title)'}{also}")
    if not args.dry_run:
        print(f"  feeds     {config.outputs.feeds_dir} rendered without them")
    for want in missing:
        print(f"pln: warning: no item with id or link {want!r}", file=sys.stderr)
    return 0


def _forget_store(db: Path, dry_run: bool):
    """The store `pln forget` works on: read-only for a dry run, which changes nothing and so
    waits for a writer's turn as `pln sql` does."""
    from pln.sinks.store import Store

    return Store(db, read_only=dry_run)


@contextlib.contextmanager
def _forget_lock(db: Path, dry_run: bool):
    """The run lock, as `pln run`, `rescore` and `compact` take it: refused at once (75) while
    one of them or a stream writes, not after waiting for the database. A dry run takes no
    lock: it only counts."""
    from pln.errors import UsageError
    from pln.lock import RunInProgress, RunLock

    if not db.exists():
        raise UsageError(f"pln forget: database {db} does not exist yet; nothing to forget")
    if dry_run:
        yield
        return
    try:
        lock = RunLock(db, "pln forget").__enter__()
    except RunInProgress as exc:
        raise RunInProgress(f"{exc.busy}; stop it (or let it finish) and forget then") from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def cmd_compact(args) -> int:
    from pln.sinks.store_compact import compact

    db = Path(args.db) if args.db else _db_from_config(args.config)
    done = compact(db)
    print(json.dumps(done.as_dict(), indent=2) if args.json else done.line())
    return 0


def cmd_sql(args) -> int:
    from pln.sinks.store import Store

    db = Path(args.db) if args.db else _db_from_config(args.config)
    with Store(db, read_only=True, wait=args.wait) as store:
        columns, rows = store.user_sql(args.query)
    print_rows(columns, rows, args.format)
    return 0


def _db_from_config(config_path: str) -> Path:
    from pln.config import load_config

    return load_config(config_path).outputs.duckdb


def run() -> None:
    """The `pln` command: `main()`, then exit with its code. After Ctrl-C or SIGTERM every
    command has cleaned up by then; a thread a library left running (Beam's runner, stopped
    while a pipeline started) must not keep the process alive, so it exits at once."""
    from pln.cli_stream import terminated

    code = main()
    lingering = [
        t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
    ]
    if (code == 130 or terminated()) and lingering:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
