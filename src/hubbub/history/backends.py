"""Choosing a history back-end by name, as the configuration names it."""

from __future__ import annotations

from pathlib import Path

from hubbub.history.store import HistoryStore

__all__ = ["BACKENDS", "open_store"]

BACKENDS = ("memory", "sqlite")


def open_store(backend: str, path: Path) -> HistoryStore:
    """A new store of the named back-end: "memory" (ignores `path`) or "sqlite" (the file at
    `path`, created with its directory if absent). Call it on the thread that will use it."""
    if backend == "memory":
        from hubbub.history.memory import MemoryStore

        return MemoryStore()
    if backend == "sqlite":
        from hubbub.history.sqlite import SqliteStore

        return SqliteStore(path)
    raise ValueError(f"unknown history backend {backend!r} (expected one of {BACKENDS})")
