"""The two seams between the sans-IO core and the world: a connection's Link and the history.

The core never touches a socket, a clock or a disk. A transport gives it one `Link` per
connection; the application gives it one `HistoryService`. Both are plain, non-blocking calls:

* `Link.write` queues bytes for one connection and returns at once. It must never call back into
  the core (the core may be in the middle of a fan-out loop); a transport that wants to drop a
  connection from inside `write` (send queue exceeded) schedules that for later.
* `Link.close` tells the transport the core is finished with the connection: flush what is
  queued, then close. The core has already forgotten the session when it calls it, so the
  transport must not report that connection's end back to the core.
* `HistoryService.append` hands a record to durable storage and returns at once.
  `HistoryService.available` is False while the store cannot take records (it is failing, or
  its bounded queue is full): the core then refuses messages it would store rather than
  acknowledge them and lose them.
* `HistoryService.query` runs a read against the store away from the caller and later calls
  `done(result)` on the core's own thread (the event loop), never from inside `query` itself
  unless the service is the synchronous one used by tests.
* `AccountService.call` runs `fn(store)` against the account store away from the loop (password
  hashing included: it is CPU-heavy) and later calls `done(result)` on the loop. A call that
  raised is answered with an `hubbub.accounts.service.AccountFailure`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from hubbub.accounts.store import AccountStore
from hubbub.history.record import Record
from hubbub.history.store import HistoryStore
from hubbub.registry.store import RegistryStore

T = TypeVar("T")


class Link(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class HistoryService(Protocol):
    @property
    def available(self) -> bool: ...

    def append(self, record: Record) -> None: ...

    def query(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None: ...


class AccountService(Protocol):
    def call(self, fn: Callable[[AccountStore], Any], done: Callable[[Any], None]) -> None: ...


class RegistryService(Protocol):
    """Registered channels and server bans (`hubbub.registry`): `call(fn, done)` runs
    `fn(store)` off the loop and `done(result)` later on it, like `AccountService`."""

    def call(self, fn: Callable[[RegistryStore], Any], done: Callable[[Any], None]) -> None: ...
