"""The core's `AccountService` implementations (see `hubbub.storethread`).

* `LoopAccountService` goes through an `AccountWorker` and answers on the asyncio event loop.

A call that raises is logged and answered with `FAILURE` (an `AccountFailure`), which the core
turns into a "temporarily unavailable" answer.
"""

from __future__ import annotations

from hubbub.accounts.store import AccountStore
from hubbub.storethread import FAILURE, CallFailure, LoopStoreService, Poster, StoreThread

__all__ = ["FAILURE", "AccountFailure", "LoopAccountService"]

AccountFailure = CallFailure


class LoopAccountService(LoopStoreService[AccountStore]):
    def __init__(self, worker: StoreThread[AccountStore], loop: Poster) -> None:
        super().__init__(worker, loop, "accounts")
