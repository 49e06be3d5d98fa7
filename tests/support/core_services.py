"""The core's services for tests that drive `ChatServer` without threads or a clock.

* `SyncService` (and `SyncHistoryService`, the history's) runs every call at once on the
  caller's thread (a memory store, answered before `call` returns), the way the core tests want
  most of the time; a call that raises is answered with `FAILURE`, as the real workers do.
* `HeldService` answers only when the test says so (`complete()`), so a test can see what a
  client gets while one of its commands waits on a worker (per-client order).
* `SeededRandomness` is the core's `Randomness` port, repeatable.
* `CountingPasswords` wraps the core's `Passwords` and counts the hashes it computes (a test
  shows how many password checks an attack cost).
* `core_ports(...)` assembles the `Ports` a `ChatServer` needs, memory stores by default.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from hubbub.accounts.memory import MemoryAccountStore
from hubbub.accounts.model import Credentials
from hubbub.accounts.passwords import Hasher
from hubbub.core.ports import (
    FAILURE,
    AccountService,
    HistoryService,
    Passwords,
    Ports,
    RegistryService,
)
from hubbub.history.memory import MemoryStore
from hubbub.history.record import Record
from hubbub.history.store import HistoryStore
from hubbub.registry.memory import MemoryRegistryStore
from hubbub.timezones import zone_named

__all__ = [
    "CountingPasswords",
    "HeldService",
    "SeededRandomness",
    "SyncAccountService",
    "SyncHistoryService",
    "SyncRegistryService",
    "SyncService",
    "core_ports",
]

S = TypeVar("S")

log = logging.getLogger("hubbub.tests")

#: The start time the core tests give the server (2023-11-14T22:13:20Z).
STARTED = 1_700_000_000.0


class SyncService(Generic[S]):
    """Runs every call at once on the caller's thread (`done` runs before `call` returns)."""

    def __init__(self, store: S) -> None:
        self.store = store

    def call(self, fn: Callable[[S], Any], done: Callable[[Any], None]) -> None:
        try:
            result = fn(self.store)
        except Exception:
            log.exception("store call failed")
            result = FAILURE
        done(result)


class SyncHistoryService:
    """A HistoryService that runs everything at once on the caller's thread.

    `query` calls `done` before it returns (allowed only for this synchronous service).
    """

    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    @property
    def available(self) -> bool:
        return True  # a call that fails raises to the caller, there is nothing to wait for

    def append(self, record: Record) -> None:
        self.store.append([record])

    def query(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        done(call(self.store))


SyncAccountService = SyncService
SyncRegistryService = SyncService


class HeldService(Generic[S]):
    """Answers only when the test calls `complete()` (each call against the store then).

    `broken`: answer every call with `FAILURE`, as a worker whose store raised.
    """

    def __init__(self, store: S) -> None:
        self.store = store
        self.pending: list[tuple[Callable[[S], Any], Callable[[Any], None]]] = []
        self.broken = False

    def call(self, fn: Callable[[S], Any], done: Callable[[Any], None]) -> None:
        self.pending.append((fn, done))

    def complete(self) -> None:
        """Answer everything asked so far (and what those answers ask in turn)."""
        while self.pending:
            pending, self.pending = self.pending, []
            for fn, done in pending:
                done(FAILURE if self.broken else fn(self.store))


class CountingPasswords:
    """The `Passwords` port around a real one, counting every hash made or checked."""

    def __init__(self, inner: Passwords) -> None:
        self.inner = inner
        self.hashes = 0

    def make(self, password: str) -> Credentials:
        self.hashes += 1
        return self.inner.make(password)

    def verify(self, credentials: Credentials, password: str) -> bool:
        self.hashes += 1
        return self.inner.verify(credentials, password)

    def verify_hash(self, phc: str | None, password: str) -> bool:
        self.hashes += 1
        return self.inner.verify_hash(phc, password)

    def needs_rehash(self, credentials: Credentials) -> bool:
        return self.inner.needs_rehash(credentials)

    def waste(self, password: str) -> None:
        self.hashes += 1
        self.inner.waste(password)


class SeededRandomness:
    """Repeatable randomness for the core (the `Randomness` port)."""

    def __init__(self, seed: int = 1) -> None:
        self.random = random.Random(seed)

    def token_hex(self, nbytes: int) -> str:
        return self.random.randbytes(nbytes).hex()

    def token_bytes(self, nbytes: int) -> bytes:
        return self.random.randbytes(nbytes)

    def below(self, upper: int) -> int:
        return self.random.randrange(upper)


def core_ports(
    history: HistoryService | None = None,
    accounts: AccountService | None = None,
    registry: RegistryService | None = None,
    started: float = STARTED,
) -> Ports:
    """The ports of a core under test: memory stores answered at once unless given."""
    return Ports(
        history=history if history is not None else SyncHistoryService(MemoryStore()),
        accounts=accounts if accounts is not None else SyncService(MemoryAccountStore()),
        registry=registry if registry is not None else SyncService(MemoryRegistryStore()),
        passwords=Hasher.from_config,
        randomness=SeededRandomness(),
        started=started,
        zones=zone_named,
    )
