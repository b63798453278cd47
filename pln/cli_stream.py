"""`pln ingest` and `pln stream`: the event-driven mode (sources -> Kafka -> Beam streaming).

`pln.cli` adds these with `add_stream_commands(subparsers)`. Kafka settings come from flags,
falling back to PLN_KAFKA_* environment variables (handy in containers).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from pln import progress

ENV_BOOTSTRAP = "PLN_KAFKA_BOOTSTRAP"
ENV_RAW_TOPIC = "PLN_KAFKA_RAW_TOPIC"
ENV_CURATED_TOPIC = "PLN_KAFKA_CURATED_TOPIC"
ENV_GIVE_UP = "PLN_KAFKA_GIVE_UP"
ENV_ENGINE = "PLN_STREAM_ENGINE"
ENV_OUT_OF_RANGE = "PLN_ON_OUT_OF_RANGE"
GRACE = 20.0  # seconds an interrupted ingest or stream gets to stop before it exits regardless


def add_stream_commands(subparsers) -> None:
    ingest = subparsers.add_parser(
        "ingest", help="poll every source on its interval and produce items to Kafka"
    )
    _common(ingest)
    ingest.add_argument(
        "--state",
        help="the ingester's cursor file (default: ingest-state.json beside the database)",
    )
    ingest.set_defaults(func=cmd_ingest, service=True)

    stream = subparsers.add_parser(
        "stream", help="curate the Kafka raw-items topic continuously into DuckDB, feeds and Kafka"
    )
    _common(stream)
    stream.add_argument(
        "--curated-topic",
        default=os.environ.get(ENV_CURATED_TOPIC, "pln.curated-items"),
        help="topic for kept items ('' for none; default: pln.curated-items)",
    )
    stream.add_argument(
        "--engine",
        choices=("local", "beam"),
        default=os.environ.get(ENV_ENGINE, "local"),
        help="local: curate worker processes and one writer (default; meant to be left "
        "running); beam: the Beam streaming pipeline (Flink, Dataflow)",
    )
    stream.add_argument(
        "--workers",
        type=_positive_int,
        help="curate workers (local engine; default: one per core, at most 4)",
    )
    stream.add_argument(
        "--on-out-of-range",
        choices=("earliest", "latest", "fail"),
        default=os.environ.get(ENV_OUT_OF_RANGE, "earliest"),
        help="stored offsets the topic no longer has (recreated, retention): resume from the "
        "earliest offset (default; safe, writes are upserts), the latest, or stop",
    )
    stream.add_argument(
        "--until-idle",
        type=float,
        metavar="SECONDS",
        help="stop once nothing new arrived for this long (drain a backlog, if any, then exit)",
    )
    stream.add_argument(
        "--kafka-read",
        choices=("builtin", "xlang"),
        default="builtin",
        help="beam engine: builtin (kafka-python inside Beam, any runner) or xlang (Beam's "
        "Java ReadFromKafka; Flink, Dataflow; needs Java)",
    )
    stream.add_argument(
        "beam_args",
        nargs=argparse.REMAINDER,
        help="after `--`: Beam pipeline options, e.g. -- --runner=FlinkRunner",
    )
    stream.set_defaults(func=cmd_stream, service=True)

    health = subparsers.add_parser(
        "health", help="is the stream writing this config's database alive? (exit 0 if so)"
    )
    health.add_argument("-c", "--config", default="pln.yaml", help="config file")
    health.add_argument(
        "--max-age",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="unhealthy when the heartbeat, or the last write while records wait, is older",
    )
    health.set_defaults(func=cmd_health)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default="pln.yaml", help="config file (default: pln.yaml)")
    p.add_argument(
        "--bootstrap",
        default=os.environ.get(ENV_BOOTSTRAP, "localhost:9092"),
        help=f"Kafka bootstrap servers (default: ${ENV_BOOTSTRAP} or localhost:9092)",
    )
    p.add_argument(
        "--raw-topic",
        default=os.environ.get(ENV_RAW_TOPIC, "pln.raw-items"),
        help="topic of ingested items (default: pln.raw-items)",
    )
    p.add_argument(
        "--for",
        dest="duration",
        type=float,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until interrupted)",
    )
    p.add_argument(
        "--give-up-after",
        type=float,
        default=float(os.environ.get(ENV_GIVE_UP, "120")),
        metavar="SECONDS",
        help="exit non-zero when the broker stays unreachable this long, so a supervisor "
        f"restarts us (default: ${ENV_GIVE_UP} or 120; 0 waits for ever)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _settings(args, **extra):
    from pln.pipelines.kafka_io import KafkaSettings

    give_up = args.give_up_after if args.give_up_after > 0 else None
    return KafkaSettings(
        bootstrap=args.bootstrap, raw_topic=args.raw_topic, give_up_after=give_up, **extra
    )


def _prepare_process(gently=None) -> None:
    """Our own broker messages replace kafka-python's per-connection warnings; `docker stop`
    sends SIGTERM, which stops the command cleanly (stop_on_sigterm)."""
    import logging

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    stop_on_sigterm(gently)


_terminated = threading.Event()  # a SIGTERM came


def terminated() -> bool:
    """Whether this process was asked to stop by SIGTERM (`docker stop`, `systemctl stop`)."""
    return _terminated.is_set()


def stop_on_sigterm(gently=None) -> None:
    """SIGTERM stops the command: `gently()`, when it returns True, has asked a loop to end
    at its next turn (`pln stream`); else it stops as Ctrl-C does (KeyboardInterrupt), and
    `pln.cli.main` tells the two apart by `terminated()`. Either way the process exits by
    itself after GRACE seconds. A child forked meanwhile (before setting its own handler)
    dies of it, as it did before."""
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers belong to the main thread (main() called in a test's thread)
    owner = os.getpid()
    _terminated.clear()

    def stop(*_):
        if os.getpid() != owner:  # a forked child
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        first = not _terminated.is_set()
        _terminated.set()
        if first:
            _exit_unless_stopped_within(GRACE)
            if gently is not None and gently():
                return
        raise KeyboardInterrupt

    previous_hook = sys.unraisablehook

    def again_if_swallowed(unraisable) -> None:
        # The KeyboardInterrupt `stop` raised landed where Python ignores exceptions (a
        # weakref callback inside Beam's runner: seen in CI), so the command runs on as if
        # never asked. Nothing has begun stopping then: raise it again, elsewhere.
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and _terminated.is_set():
            threading.Timer(0.05, os.kill, (owner, signal.SIGTERM)).start()
        previous_hook(unraisable)

    sys.unraisablehook = again_if_swallowed
    signal.signal(signal.SIGTERM, stop)


def _exit_unless_stopped_within(seconds: float) -> None:
    """An exception raised by a signal handler can land where Python ignores exceptions (a
    weakref callback inside Beam's runner: seen in CI), and the process would then run on for
    ever. So an interrupted command exits by itself after `seconds`, whatever it is doing;
    normally it has stopped long before (what it committed is safe either way)."""

    def exit_now() -> None:
        print(f"pln: interrupted, and not stopped after {seconds:g} s: exiting", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.start()


def cmd_ingest(args) -> int:
    from pln.pipelines.ingest import run_ingest
    from pln.sources.registry import load_checked_config

    config = load_checked_config(args.config)
    _prepare_process()
    state = Path(args.state) if args.state else None
    run_ingest(config, _settings(args), state, stop_after=args.duration, follow_config=True)
    return 0


def cmd_stream(args) -> int:
    from pln.cli_learn import warn_older_models
    from pln.pipelines.stream import run_stream
    from pln.sources.registry import load_checked_config

    config = load_checked_config(args.config)
    settings = _settings(
        args,
        curated_topic=args.curated_topic,
        read=args.kafka_read,
        on_out_of_range=args.on_out_of_range,
    )
    beam_args = [a for a in args.beam_args if a != "--"]
    from pln.pipelines.local_stream import stop_running

    _prepare_process(gently=stop_running)
    started = time.monotonic()
    while True:
        left = None if args.duration is None else args.duration - (time.monotonic() - started)
        if left is not None and left <= 0:  # its time ran out as it was to start again
            return 0
        warn_older_models(config)  # once a (re)start: a model trained meanwhile ends it
        _rescore_if_scored_otherwise(config, args.quiet)
        summary = run_stream(
            config,
            settings,
            engine=args.engine,
            workers=args.workers,
            beam_args=beam_args,
            stop_after=left,
            until_idle=args.until_idle,
            watch_config=True,
        )
        if not args.quiet:
            print(summary_line(summary), file=sys.stderr, flush=True)
        if summary.edited is None:
            return 0
        why = "a newly trained model" if summary.edited == config else f"{config.path} was edited"
        config = summary.edited
        progress.say(f"{why}: the stream starts again with it")


def summary_line(summary) -> str:
    """The line a stream run ends with (pipelines/stream.StreamSummary)."""
    stats = summary.stats
    p95 = stats.get("latency_p95_s")
    return (
        f"PLN Curator stream {summary.run_id}: {summary.seconds:.1f} s, "
        f"{progress.counted(stats.get('items_written', 0), 'item')} written"
        + (f", p95 produce->DuckDB {p95:.2f} s" if p95 is not None else "")
        + (" (stopped by SIGTERM)" if summary.stopped else "")
    )


def _rescore_if_scored_otherwise(config, quiet: bool) -> None:
    """Before the stream (re)starts: rescore the stored items when they were scored with other
    topics or another model (pipelines/scoring_state.py), beating the heartbeat as it goes so
    `pln health` stays green. `pln rescore` cannot run beside a stream, so the stream does it."""
    from pln.cli_learn import rescore_lines
    from pln.learn import rescore
    from pln.pipelines.heartbeat import Heartbeat

    heartbeat = Heartbeat(config.outputs.duckdb, run_id="rescore")
    ticker = progress.Ticker("rescoring the stored items for the edited topics or model")

    def done(count: int, total: int) -> None:
        heartbeat.beat(state="rescoring", items_rescored=count, items_total=total)
        ticker.add(count - ticker.count)

    report = rescore(config, holder="pln stream", only_if_needed=True, on_batch=done)
    ticker.close()
    if report is not None and not quiet:
        print(rescore_lines(report, config), file=sys.stderr, flush=True)


def cmd_health(args) -> int:
    from pln.pipelines.heartbeat import check_health
    from pln.sources.registry import load_checked_config

    config = load_checked_config(args.config)
    ok, line = check_health(config.outputs.duckdb, max_age=args.max_age)
    print(line, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
