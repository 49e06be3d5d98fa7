"""The core's `AccountService` implementations (see `hubbub.storethread`).

* `SyncAccountService` calls the store (and hashes) on the caller's thread: for core tests only.
* `LoopAccountService` goes through an `AccountWorker` and answers on the asyncio event loop.

A call that raises is logged and answered with `FAILURE` (an `AccountFailure`), which the core
turns into a "temporarily unavailable" answer.
"""

from __future__ import annotations

import asyncio

from hubbub.accounts.store import AccountStore
from hubbub.storethread import FAILURE, CallFailure, LoopStoreService, StoreThread, SyncStoreService

__all__ = ["FAILURE", "AccountFailure", "LoopAccountService", "SyncAccountService"]

AccountFailure = CallFailure


class SyncAccountService(SyncStoreService[AccountStore]):
    def __init__(self, store: AccountStore) -> None:
        super().__init__(store, "accounts")


class LoopAccountService(LoopStoreService[AccountStore]):
    def __init__(self, worker: StoreThread[AccountStore], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(worker, loop, "accounts")
