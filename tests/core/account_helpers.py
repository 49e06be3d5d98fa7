"""Helpers of the account and SASL core tests: fast hashing, a deferred account service."""

from __future__ import annotations

import base64
from typing import Any

from core_helpers import Client, Harness, make_config

from hubbub.accounts.memory import MemoryAccountStore
from hubbub.accounts.store import AccountStore
from hubbub.config import Config
from support.core_services import HeldService

FAST_HASH = {"hash_time_cost": 1, "hash_memory_kib": 64}
PASSWORD = "correct-horse-battery"


def account_config(**accounts: Any) -> Config:
    return make_config(accounts={**FAST_HASH, **accounts})


class DeferredAccounts(HeldService[AccountStore]):
    """An AccountService whose answers come only when the test calls `complete()`."""

    def __init__(self, store: AccountStore | None = None) -> None:
        super().__init__(store if store is not None else MemoryAccountStore())


def deferred_harness(config: Config | None = None) -> tuple[Harness, DeferredAccounts]:
    service = DeferredAccounts()
    h = Harness(config or account_config(), accounts=service)
    service.complete()  # the names
    return h, service


def registered(
    h: Harness, nick: str, password: str = PASSWORD, caps: tuple[str, ...] = ()
) -> Client:
    """A registered client that registered the account `nick` (and is logged in to it)."""
    c = h.client(nick, caps)
    c.send(f"PRIVMSG NickServ :REGISTER {password}")
    got = c.raw()
    assert any(" 900 " in line for line in got), got
    return c


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
