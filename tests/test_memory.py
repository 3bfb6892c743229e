"""maskxai.memory: the allocator settings and the wrapper that gives memory back after each request."""

from __future__ import annotations

import inspect
import sys

import pytest

from maskxai import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_glibc_accepts_the_settings():
    assert memory.tune_allocator(arena_max=8)  # 8 is glibc's own default on 2+ cores: changes nothing here
    memory.release_memory()


def test_releasing_memory_keeps_the_signature_and_releases_however_it_ends(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "release_memory", lambda: calls.append(1))

    def handler(a: int, progress: str = "p"):
        yield a
        if a < 0:
            raise ValueError("bad")
        yield a + 1

    wrapped = memory.releasing_memory(handler)
    assert inspect.isgeneratorfunction(wrapped)  # Gradio streams it like the handler
    assert list(inspect.signature(wrapped).parameters) == ["a", "progress"]
    assert list(wrapped(1)) == [1, 2] and calls == [1]
    with pytest.raises(ValueError, match="bad"):
        list(wrapped(-1))
    assert calls == [1, 1]
    gen = wrapped(5)
    next(gen)
    gen.close()  # a visitor who leaves mid-stream
    assert calls == [1, 1, 1]
