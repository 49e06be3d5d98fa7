"""The account worker: the account store on its own thread (see `hubbub.storethread`).

The event loop never touches the account database and never hashes a password: it submits
functions that do both, and they run here, in submission order.
"""

from __future__ import annotations

from collections.abc import Callable

from hubbub.accounts.store import AccountStore
from hubbub.storethread import StoreThread

__all__ = ["AccountWorker"]


class AccountWorker(StoreThread[AccountStore]):
    def __init__(self, open_store: Callable[[], AccountStore]) -> None:
        super().__init__(open_store, "accounts")
