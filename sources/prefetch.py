"""Responses fetched by the batch job's probe, handed to the worker that parses them.

The probe (pipelines/probe.py) asks every feed once, with its conditional headers. A feed that
changed answers with its body; rather than ask the server a second time, the response goes to
the worker, which hands it to the source through `answering_from`. The local engine's workers
are processes of this machine: a response reaches them in memory (`HeldResponse`, through the
tasks queue), up to `hold_bytes` a run. Past that, and for the Beam engine, whose workers may
be on other machines, it is written under the run's staging folder (any pyarrow filesystem
URI). Creating a file is what costs: 0.26 ms of CPU each on the ext4 disk of our 2-core
machine, against 22 µs to write 50 KB into one; 500 staged feeds took 0.1-0.15 s of the
parent's CPU while it shares the cores with the crew loading spaCy.

The folder lives as long as its run (`StagingFolder`): the run ends it, and a fetch the probe
gave up on at its deadline (its thread goes on) that answers after that stages nothing.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyarrow loads only when something is staged or read back
    from pln.sources.http import Response


@dataclass(frozen=True)
class HeldResponse:
    """A response handed over in memory instead of staged: the answer for `url`."""

    url: str
    response: Response


def stage_response(staging: str, name: str, url: str, response: Response) -> str:
    """Write `response` (the answer for `url`) under `staging`; returns where it is."""
    from pyarrow import fs as pafs

    fs, base = pafs.FileSystem.from_uri(staging)
    fs.create_dir(base, recursive=True)
    path = f"{base}/{hashlib.sha1(name.encode()).hexdigest()}.response"
    with fs.open_output_stream(path) as out:
        out.write(pickle.dumps((url, response), protocol=pickle.HIGHEST_PROTOCOL))
    scheme = staging.split("://", 1)[0] + "://" if "://" in staging else ""
    return f"{scheme}{path}" if scheme else path


class StagingFolder:
    """The run's folder of staged responses. The probe stages into it (`stage`) until the run
    `end`s it, which removes the folder; a fetch that answers after that stages nothing. A
    write under way when the run ends finishes first, then removes the folder itself (the
    last one to finish does): so nothing staged outlives the run, and the run's end never
    waits on a write."""

    def __init__(self, uri: str, hold_bytes: int = 0):
        self.uri = uri
        self._lock = threading.Lock()
        self._ended = False
        self._writing = 0
        self._hold_left = hold_bytes  # response bodies still to hand over in memory

    def stage(self, name: str, url: str, response: Response) -> str | HeldResponse | None:
        """The response held in memory while the run's `hold_bytes` last, else
        `stage_response` into this folder; None (nothing kept) once the run ended."""
        with self._lock:
            if self._ended:
                return None
            if len(response.body) <= self._hold_left:
                self._hold_left -= len(response.body)
                return HeldResponse(url, response)
            self._writing += 1
        try:
            return stage_response(self.uri, name, url, response)
        finally:
            with self._lock:
                self._writing -= 1
                last_after_end = self._ended and not self._writing
            if last_after_end:
                remove_staged(self.uri)

    def end(self) -> None:
        """The run is over: remove the folder now, or when the writes under way are done."""
        with self._lock:
            self._ended = True
            writing = self._writing
        if not writing:
            remove_staged(self.uri)


def load_response(where: str | HeldResponse) -> dict[str, Response]:
    """The staged or held answer as {url: response}, for `answering_from`."""
    if isinstance(where, HeldResponse):
        return {where.url: where.response}
    from pyarrow import fs as pafs

    fs, path = (
        pafs.FileSystem.from_uri(where) if "://" in where else (pafs.LocalFileSystem(), where)
    )
    with fs.open_input_stream(path) as src:
        url, response = pickle.loads(src.read())
    return {url: response}


def remove_staged(staging: str) -> None:
    """Remove a staging folder (the probe's, or the Beam writer's), if one was made."""
    if "://" not in staging and not os.path.exists(staging):
        return  # a local folder never made (nothing changed): no need to load pyarrow
    from pyarrow import fs as pafs

    fs, base = pafs.FileSystem.from_uri(staging)
    if fs.get_file_info(base).type != pafs.FileType.NotFound:
        fs.delete_dir(base)
