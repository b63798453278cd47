"""A real dask.distributed cluster for tests and benchmarks: one `dask scheduler` and N
`dask worker` processes on 127.0.0.1.

The scheduler binds port 0 and writes its address to a scheduler file, so there is no race for a
free port. `start()` waits (bounded) until every worker has joined; `stop()` ends the processes
it started, and only those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT = 60.0


class ClusterUnavailable(RuntimeError):
    """dask.distributed is not installed, or the cluster would not start."""


class DaskCluster:
    def __init__(
        self,
        folder: Path,
        workers: int = 2,
        threads: int = 1,
        env: dict[str, str] | None = None,
        preload: tuple[str, ...] = (),
        writer: bool = False,
    ):
        """`writer`: the last worker offers the `pln_writer` resource (it writes the DuckDB)."""
        self.folder, self.workers, self.threads = Path(folder), workers, threads
        self.env, self.preload, self.writer = env or {}, preload, writer
        self.scheduler_file = self.folder / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        self.address = ""

    def start(self) -> DaskCluster:
        try:
            import distributed
        except ImportError:
            raise ClusterUnavailable(
                "dask.distributed is not installed (pip install 'pln-curator[dask]')"
            ) from None
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        common = ["--no-dashboard"]
        self._spawn(
            "scheduler",
            [
                "distributed.cli.dask_scheduler",
                "--host=127.0.0.1",
                "--port=0",
                f"--scheduler-file={self.scheduler_file}",
                *common,
            ],
            env,
        )
        self.address = self._wait_for_address()
        for n in range(self.workers):
            self._spawn(
                f"worker{n}",
                [
                    "distributed.cli.dask_worker",
                    self.address,
                    "--host=127.0.0.1",
                    f"--nthreads={self.threads}",
                    "--no-nanny",
                    f"--local-directory={self.folder / f'worker{n}'}",
                    f"--name=worker{n}",
                    *(f"--preload={module}" for module in self.preload),
                    *(
                        ["--resources=pln_writer=1"]
                        if self.writer and n == self.workers - 1
                        else []
                    ),
                    *common,
                ],
                env,
            )
        with distributed.Client(self.address, timeout=START_TIMEOUT) as client:
            try:
                client.wait_for_workers(self.workers, timeout=START_TIMEOUT)
            except Exception as exc:
                self.stop()
                raise ClusterUnavailable(f"dask workers did not join: {exc}") from None
        return self

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = (self.folder / f"{name}.log").open("wb")
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        )

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.procs[0].poll() is not None:
                self.stop()
                raise ClusterUnavailable(f"dask scheduler exited; see {self.folder}/scheduler.log")
            try:
                return json.loads(self.scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        self.stop()
        raise ClusterUnavailable(f"dask scheduler did not start in {START_TIMEOUT:.0f} s")

    @property
    def host_port(self) -> str:
        """The scheduler's address as Beam's `--dask_client_address` takes it."""
        return self.address.removeprefix("tcp://")

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for proc in reversed(self.procs):  # workers first, then the scheduler
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
