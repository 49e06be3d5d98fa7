"""The core's `RegistryService` implementations (see `hubbub.storethread`).

* `LoopRegistryService` goes through a `RegistryWorker` and answers on the event loop.

A call that raises is logged and answered with `FAILURE` (a `RegistryFailure`): the change is
then only in memory, and the log says so.
"""

from __future__ import annotations

from hubbub.registry.store import RegistryStore
from hubbub.storethread import FAILURE, CallFailure, LoopStoreService, Poster, StoreThread

__all__ = ["FAILURE", "LoopRegistryService", "RegistryFailure"]

RegistryFailure = CallFailure


class LoopRegistryService(LoopStoreService[RegistryStore]):
    def __init__(self, worker: StoreThread[RegistryStore], loop: Poster) -> None:
        super().__init__(worker, loop, "registry")
