"""Benchmark the batch job on a dask.distributed cluster against the in-process runner (not a test).

Starts a real cluster on 127.0.0.1 (`dask scheduler` + N `dask worker` processes, one thread
each), then runs the same input, side by side in this run:
  - in-process (FnApiRunner, one process; what `pln run` does by default),
  - in-process with `runner.workers: N` (Beam's multi-process mode on this machine),
  - on the Dask cluster, twice: cold (the workers import Beam, spaCy and pln on their first task)
    and warm.
For the Dask runs it prints where the time went, from the scheduler's task stream: compute
seconds per pipeline step, per worker, and time spent moving data between workers.

    python bench/bench_dask.py [--items 100000] [--workers 2] [--example] [--preload]

`--example` runs the bundled example instead of generated items. `--preload` starts the workers
with `--preload` of the modules the pipeline's steps live in (read, curate, write), so imports
happen when the worker starts, not in the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from bench_pipeline import write_chats, write_config, write_feeds, write_tweets  # noqa: E402
from dask_cluster import DaskCluster  # noqa: E402


def prepare(folder: Path, items: int, example: bool) -> Path:
    if example:
        shutil.copytree(REPO / "examples", folder, ignore=shutil.ignore_patterns("out"))
        return folder / "pln.yaml"
    folder.mkdir(parents=True)
    rng = random.Random(7)
    n_tweets, n_feeds = items * 70 // 100, items * 22 // 100
    write_tweets(folder, rng, n_tweets)
    write_feeds(folder, rng, n_feeds)
    write_chats(folder, rng, items - n_tweets - n_feeds)
    return write_config(folder, workers=1)


def run(config_path: Path, workers: int = 1, beam_args: tuple[str, ...] = ()) -> float:
    from pln.config import load_config
    from pln.pipelines.batch import run_batch

    config = load_config(config_path)
    shutil.rmtree(config.outputs.duckdb.parent, ignore_errors=True)
    runner = dataclasses.replace(config.runner, workers=workers, beam_args=beam_args)
    start = time.perf_counter()
    run_batch(dataclasses.replace(config, runner=runner))
    return time.perf_counter() - start


def task_stream_report(address: str, since: float) -> str:
    """Compute seconds per step and per worker, and transfer seconds, since `since`."""
    import distributed

    per_step: dict[str, float] = defaultdict(float)
    per_worker: dict[str, float] = defaultdict(float)
    moving = 0.0
    with distributed.Client(address) as client:
        for task in client.get_task_stream(start=since):
            for part in task["startstops"]:
                seconds = part["stop"] - part["start"]
                if part["action"] == "compute":
                    step = str(task["key"][0] if isinstance(task["key"], tuple) else task["key"])
                    per_step[step.rsplit("-", 1)[0][:70]] += seconds
                    per_worker[task["worker"]] += seconds
                elif part["action"] in ("transfer", "deserialize"):
                    moving += seconds
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(per_step.items(), key=lambda kv: -kv[1]))
    workers = ", ".join(f"{w.rsplit(':', 1)[-1]} {v:.1f} s" for w, v in sorted(per_worker.items()))
    return f"    compute per step: {steps}\n    per worker (port): {workers}; moving data {moving:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--example", action="store_true", help="the bundled example instead")
    parser.add_argument("--preload", action="store_true", help="workers import pln on start")
    parser.add_argument("--dask-only", action="store_true", help="skip the in-process runs")
    parser.add_argument(
        "--npartitions", type=int, help="--dask_npartitions (default: the runner's)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pln-bench-dask-") as tmp:
        config_path = prepare(Path(tmp) / "data", args.items, args.example)
        what = "the example" if args.example else f"{args.items:,} generated items"
        print(f"input: {what}")

        start = time.perf_counter()
        steps = ("pln.pipelines.read", "pln.pipelines.curate", "pln.pipelines.write")
        preload = steps if args.preload else ()
        cluster = DaskCluster(Path(tmp) / "cluster", workers=args.workers, preload=preload)
        cluster.start()
        print(
            f"cluster: scheduler + {args.workers} workers up in {time.perf_counter() - start:.1f} s"
        )
        try:
            import distributed

            with distributed.Client(cluster.address) as client:
                client.get_task_stream(start=time.time())  # registers the scheduler's plugin
            if not args.dask_only:
                seconds = run(config_path)
                print(f"in-process, 1 process:          {seconds:6.1f} s")
                seconds = run(config_path, workers=args.workers)
                print(f"in-process, {args.workers} worker processes: {seconds:6.1f} s")
            dask_args = ("--runner=dask", f"--dask_client_address={cluster.host_port}")
            if args.npartitions:
                dask_args += (f"--dask_npartitions={args.npartitions}",)
            for label in ("cold", "warm"):
                since = time.time()
                seconds = run(config_path, beam_args=dask_args)
                print(f"dask, {args.workers} workers, {label}:         {seconds:6.1f} s")
                print(task_stream_report(cluster.address, since))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
