"""Every line the core writes fits 512 bytes (plus tags), whatever the parameters.

Modern IRC docs: "messages SHOULD NOT exceed 512 bytes in length, including the trailing CR-LF
characters". Every handler is driven with the longest parameters a 512-byte input line allows,
by an operator who is logged in and in a channel, with and without IRCv3 capabilities, and to
NickServ, ChanServ and HistServ too. `FakeLink` checks every write against the wire rules.
"""

from __future__ import annotations

import itertools

import pytest
from account_helpers import registered
from core_helpers import Client, Harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oper_helpers import OPER_PASSWORD, oper_config

from hubbub.core.commands import COMMANDS

INPUT_BUDGET = 510  # a received line without its CRLF
CAPS = ["batch", "server-time", "message-tags", "labeled-response", "echo-message"]
SERVICES = ["NickServ", "ChanServ", "HistServ"]


def setup(caps: bool) -> tuple[Harness, Client, Client]:
    h = Harness(oper_config())
    nick = "o" * 20
    actor = registered(h, nick, caps=tuple(CAPS) if caps else ())
    actor.send(f"OPER root {OPER_PASSWORD}")
    witness = h.client("w" * 20, CAPS)
    h.join("#" + "c" * 40, actor, witness)
    return h, actor, witness


def fill(head: str, count: int, trailing: bool) -> str:
    """`head` followed by `count` parameters sharing what is left of the input budget."""
    room = INPUT_BUDGET - len(head) - count - 1
    size = max(1, room // max(count, 1))
    params = ["p" * size for _ in range(count)]
    if trailing and params:
        params[-1] = ":" + "t" * (size - 1)
    return " ".join([head, *params])[:INPUT_BUDGET]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_with_longest_parameters(name: str) -> None:
    channel = "#" + "c" * 40
    for caps, label, count, trailing in itertools.product(
        (False, True), ("", "@label=" + "l" * 60 + " "), (1, 3, 6), (False, True)
    ):
        _, actor, witness = setup(caps)
        for first in (channel, witness.nick, "*"):
            if actor.link.closed:
                break
            actor.send(label + fill(f"{name} {first}", count, trailing))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SERVICES), st.sampled_from(["HELP", "INFO", "EXPORT", "X", "SET"]))
def test_services_with_longest_text(service: str, sub: str) -> None:
    _, actor, _ = setup(True)
    head = f"PRIVMSG {service} :{sub} #" + "c" * 40 + " "
    actor.send(head + "z" * (INPUT_BUDGET - len(head)))
