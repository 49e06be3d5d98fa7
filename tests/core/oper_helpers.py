"""Helpers of the operator, ChanServ and privacy core tests."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from account_helpers import FAST_HASH
from argon2 import PasswordHasher
from core_helpers import Client, Harness, make_config

from hubbub.config import Config, Operator

OPER_PASSWORD = "oper-secret-31337"


@functools.cache
def oper_hash(password: str = OPER_PASSWORD) -> str:
    return PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(password)


def oper_config(*operators: Operator, **sections: dict[str, Any]) -> Config:
    config = make_config(accounts={**FAST_HASH, **sections.pop("accounts", {})}, **sections)
    found = operators or (Operator("root", oper_hash(), "*@*"),)
    return dataclasses.replace(config, operators=found)


def opered(h: Harness, nick: str, name: str = "root") -> Client:
    c = h.client(nick)
    c.send(f"OPER {name} {OPER_PASSWORD}")
    assert "381" in c.numerics()
    return c
