"""Give the heap that a model swap freed back to the operating system (issue 15).

During a swap the old and the new model are both alive; once the old one is freed, glibc keeps
its pages in the allocator's arenas (the watcher thread's arena above all), so a worker's RSS
grew by tens of MB over its first reloads and stayed there. `malloc_trim` returns free pages at
the top of every arena and whole free pages inside them; it runs in the watcher thread, after
the swap, holding the GIL (`PyDLL`): a few milliseconds once per reload, and never running
while the interpreter shuts down around it (plain `CDLL` releases the GIL around the call; a
test process that exited without stopping its server once ended with SIGSEGV right after its
first swap, and a GIL-free C call in a daemon thread at exit is the suspect, not proven).
Elsewhere than glibc: nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.PyDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): no malloc_trim
        trim = None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_freed_memory() -> None:
    """Return the allocator's free pages to the OS, where the C library can (glibc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
