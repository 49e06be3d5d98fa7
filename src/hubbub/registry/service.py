"""The core's `RegistryService` implementations (see `hubbub.storethread`).

* `SyncRegistryService` calls the store on the caller's thread: for core tests only.
* `LoopRegistryService` goes through a `RegistryWorker` and answers on the event loop.

A call that raises is logged and answered with `FAILURE` (a `RegistryFailure`): the change is
then only in memory, and the log says so.
"""

from __future__ import annotations

import asyncio

from hubbub.registry.store import RegistryStore
from hubbub.storethread import FAILURE, CallFailure, LoopStoreService, StoreThread, SyncStoreService

__all__ = ["FAILURE", "LoopRegistryService", "RegistryFailure", "SyncRegistryService"]

RegistryFailure = CallFailure


class SyncRegistryService(SyncStoreService[RegistryStore]):
    def __init__(self, store: RegistryStore) -> None:
        super().__init__(store, "registry")


class LoopRegistryService(LoopStoreService[RegistryStore]):
    def __init__(self, worker: StoreThread[RegistryStore], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(worker, loop, "registry")
