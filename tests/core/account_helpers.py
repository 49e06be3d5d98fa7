"""Helpers of the account and SASL core tests: fast hashing, a deferred account service."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from core_helpers import Client, Harness, make_config

from hubbub.accounts.memory import MemoryAccountStore
from hubbub.accounts.service import FAILURE
from hubbub.accounts.store import AccountStore
from hubbub.config import Config
from hubbub.core.server import ChatServer

FAST_HASH = {"hash_time_cost": 1, "hash_memory_kib": 64}
PASSWORD = "correct-horse-battery"


def account_config(**accounts: Any) -> Config:
    return make_config(accounts={**FAST_HASH, **accounts})


class DeferredAccounts:
    """An AccountService whose answers come only when the test calls `complete()`."""

    def __init__(self, store: AccountStore | None = None) -> None:
        self.store = store if store is not None else MemoryAccountStore()
        self.pending: list[tuple[Callable[[AccountStore], Any], Callable[[Any], None]]] = []
        self.broken = False

    def call(self, fn: Callable[[AccountStore], Any], done: Callable[[Any], None]) -> None:
        self.pending.append((fn, done))

    def complete(self) -> None:
        while self.pending:
            pending, self.pending = self.pending, []
            for fn, done in pending:
                done(FAILURE if self.broken else fn(self.store))


def deferred_harness(config: Config | None = None) -> tuple[Harness, DeferredAccounts]:
    h = Harness(config or account_config())
    service = DeferredAccounts()
    h.srv = ChatServer(h.config, h.history, instance_id="t", accounts=service)
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
