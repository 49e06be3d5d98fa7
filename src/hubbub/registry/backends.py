"""Opening the registry store that goes with the configured history back-end (the SQLite
history file gets the registry tables too; a memory history means a memory registry; a
PostgreSQL history means the registry in the same PostgreSQL database)."""

from __future__ import annotations

from pathlib import Path

from hubbub.registry.store import RegistryStore

__all__ = ["open_registry_store"]


def open_registry_store(backend: str, path: Path, url: str = "") -> RegistryStore:
    """Call it on the thread that will use the store."""
    if backend == "memory":
        from hubbub.registry.memory import MemoryRegistryStore

        return MemoryRegistryStore()
    if backend == "sqlite":
        from hubbub.registry.sqlite import SqliteRegistryStore

        return SqliteRegistryStore(path)
    if backend == "postgres":
        from hubbub.registry.postgres import PostgresRegistryStore

        return PostgresRegistryStore(url)
    raise ValueError(f"unknown registry backend {backend!r}")
