"""The registry worker: the channel and ban store on its own thread (see `hubbub.storethread`).

Saves are submitted in the order the changes happened and run in that order, so the last one
written is the newest state.
"""

from __future__ import annotations

from collections.abc import Callable

from hubbub.registry.store import RegistryStore
from hubbub.storethread import StoreThread

__all__ = ["RegistryWorker"]


class RegistryWorker(StoreThread[RegistryStore]):
    def __init__(self, open_store: Callable[[], RegistryStore]) -> None:
        super().__init__(open_store, "registry")
