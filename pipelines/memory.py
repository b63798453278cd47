"""Keeping a long-running process's memory flat.

Arrow's default pool (mimalloc) and glibc's malloc keep freed memory for reuse, so a process
that handles a burst stays at its peak afterwards. The stream's processes use the system
allocator for Arrow and hand free memory back to the OS when they are idle.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time

import pyarrow as pa

IDLE_RELEASE_EVERY = 30.0  # seconds between releases while work keeps coming


def use_system_allocator() -> None:
    pa.set_memory_pool(pa.system_memory_pool())


class MemoryReleaser:
    """`busy()` after work, `idle()` when there is none: releases at most every so often."""

    def __init__(self, every: float = IDLE_RELEASE_EVERY):
        self.every, self.dirty, self.last = every, False, time.monotonic()
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        self._trim = getattr(libc, "malloc_trim", None)

    def busy(self) -> None:
        self.dirty = True

    def idle(self) -> None:
        if self.dirty and time.monotonic() - self.last >= self.every:
            gc.collect()
            if self._trim is not None:
                self._trim(0)
            self.dirty, self.last = False, time.monotonic()
