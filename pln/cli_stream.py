"""`pln ingest` and `pln stream`: the event-driven mode (sources -> Kafka -> Beam streaming).

`pln.cli` adds these with `add_stream_commands(subparsers)`. Kafka settings come from flags,
falling back to PLN_KAFKA_* environment variables (handy in containers).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

ENV_BOOTSTRAP = "PLN_KAFKA_BOOTSTRAP"
ENV_RAW_TOPIC = "PLN_KAFKA_RAW_TOPIC"
ENV_CURATED_TOPIC = "PLN_KAFKA_CURATED_TOPIC"


def add_stream_commands(subparsers) -> None:
    ingest = subparsers.add_parser(
        "ingest", help="poll every source on its interval and produce items to Kafka"
    )
    _common(ingest)
    ingest.add_argument(
        "--state",
        help="the ingester's cursor file (default: ingest-state.json beside the database)",
    )
    ingest.set_defaults(func=cmd_ingest)

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
        "--kafka-read",
        choices=("builtin", "xlang"),
        default="builtin",
        help="builtin: kafka-python inside Beam (any runner); xlang: Beam's Java ReadFromKafka "
        "(Flink, Dataflow; needs Java)",
    )
    stream.add_argument(
        "beam_args",
        nargs=argparse.REMAINDER,
        help="after `--`: Beam pipeline options, e.g. -- --runner=FlinkRunner",
    )
    stream.set_defaults(func=cmd_stream)


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
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def _settings(args, **extra):
    from pln.pipelines.kafka_io import KafkaSettings

    return KafkaSettings(bootstrap=args.bootstrap, raw_topic=args.raw_topic, **extra)


def _prepare_process() -> None:
    """Our own broker messages replace kafka-python's per-connection warnings; `docker stop`
    sends SIGTERM, which leaves like Ctrl-C (both are safe at any moment)."""
    import logging

    logging.getLogger("kafka").setLevel(logging.CRITICAL)

    def interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def cmd_ingest(args) -> int:
    from pln.config import load_config
    from pln.pipelines.ingest import run_ingest

    config = load_config(args.config)
    _prepare_process()
    state = Path(args.state) if args.state else None
    run_ingest(config, _settings(args), state, stop_after=args.duration)
    return 0


def cmd_stream(args) -> int:
    from pln.config import load_config
    from pln.pipelines.stream import run_stream

    config = load_config(args.config)
    settings = _settings(args, curated_topic=args.curated_topic, read=args.kafka_read)
    beam_args = [a for a in args.beam_args if a != "--"]
    _prepare_process()
    run_stream(config, settings, beam_args=beam_args, stop_after=args.duration)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m pln.cli_stream ingest ...`) until `pln.cli` includes these."""
    from pln import cli

    parser = argparse.ArgumentParser(prog="pln")
    add_stream_commands(parser.add_subparsers(metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    cli._quiet_library_logs()
    if not args.quiet:
        os.environ.setdefault("PLN_PROGRESS", "1")
    try:
        return args.func(args) or 0
    except cli.PlnError as exc:
        print(f"pln: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pln: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
