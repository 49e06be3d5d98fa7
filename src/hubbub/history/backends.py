"""Choosing a history back-end by name, as the configuration names it."""

from __future__ import annotations

from pathlib import Path

from hubbub.history.store import HistoryStore

__all__ = ["BACKENDS", "open_store"]

BACKENDS = ("memory", "sqlite", "postgres")


def open_store(backend: str, path: Path, url: str = "") -> HistoryStore:
    """A new store of the named back-end: "memory" (ignores `path`), "sqlite" (the file at
    `path`, created with its directory if absent) or "postgres" (the database at `url`, its
    tables created if absent). Call it on the thread that will use it."""
    if backend == "memory":
        from hubbub.history.memory import MemoryStore

        return MemoryStore()
    if backend == "sqlite":
        from hubbub.history.sqlite import SqliteStore

        return SqliteStore(path)
    if backend == "postgres":
        from hubbub.history.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unknown history backend {backend!r} (expected one of {BACKENDS})")
