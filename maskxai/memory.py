"""Flat memory in a long-running server: glibc's allocator told to give memory back.

PyTorch's CPU tensors, decoded photos and matplotlib's canvases are allocated with ``malloc``. glibc
serves large blocks with ``mmap`` only up to a threshold that it *raises* each time such a block is freed
(up to 32 MB), after which the same blocks come from per-thread heaps ("arenas") that are seldom returned
to the system. Gradio runs each request in a worker thread, so every new thread grows another arena and
the resident memory climbs with use although nothing is kept. :func:`tune_allocator` fixes the threshold
(so big blocks are always ``mmap``-ed and unmapped when freed) and caps the arenas; :func:`release_memory`
hands freed heap pages back (``malloc_trim``). Both do nothing where glibc is not the allocator.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

F = TypeVar("F", bound=Callable[..., Iterator[Any]])


@functools.lru_cache(maxsize=1)
def _glibc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return None


def tune_allocator(
    mmap_threshold: int | None = None, arena_max: int | None = 2, trim_threshold: int | None = None
) -> bool:
    """Cap glibc's malloc arenas (and optionally fix its mmap threshold); call before the big allocations.

    Args:
        mmap_threshold: Blocks at least this large (bytes) are ``mmap``-ed and unmapped when freed; setting it
            also stops glibc from raising it. ``None`` keeps glibc's own (faster: big blocks are reused).
        arena_max: Most malloc arenas (each thread may otherwise get its own); ``None`` keeps glibc's.
        trim_threshold: Free memory at the top of a heap above this is returned at once; ``None`` keeps glibc's.

    Returns:
        Whether glibc accepted every setting (False on other allocators).
    """
    libc = _glibc()
    if libc is None:
        return False
    wanted = {M_MMAP_THRESHOLD: mmap_threshold, M_ARENA_MAX: arena_max, M_TRIM_THRESHOLD: trim_threshold}
    ok = all(libc.mallopt(param, value) == 1 for param, value in wanted.items() if value is not None)
    log.info("glibc malloc: mmap threshold %s, arenas %s, trim threshold %s", mmap_threshold, arena_max, trim_threshold)
    return ok


def release_memory() -> None:
    """Give freed heap memory back to the system (``malloc_trim(0)``); a no-op off glibc."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def releasing_memory(fn: F) -> F:
    """Wrap a generator handler so :func:`release_memory` runs when it ends, however it ends.

    The wrapper keeps ``fn``'s signature (``functools.wraps``), so Gradio still sees its parameters.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from fn(*args, **kwargs)
        finally:
            release_memory()

    return wrapper  # type: ignore[return-value]
