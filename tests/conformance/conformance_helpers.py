"""What the conformance tests share: a fresh real server per test, raw clients on loopback, and
a way to read exactly the answer to a batch of commands.

Each test module checks one command family against the Modern IRC docs
(https://modern.ircdocs.horse/) or an IRCv3 specification (https://ircv3.net/irc/), and each
test quotes, in its docstring, the sentence it checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support.config import server_config
from support.irc_client import IrcClient, Line
from support.servers import ThreadedServer


class Network:
    """One running server and the clients connected to it during a test."""

    def __init__(self, server: ThreadedServer) -> None:
        self.server = server
        self.clients: list[IrcClient] = []

    def raw(self) -> IrcClient:
        """A connected, unregistered client."""
        client = IrcClient(self.server.address)
        self.clients.append(client)
        return client

    def user(self, nick: str, caps: tuple[str, ...] | list[str] = ()) -> IrcClient:
        """A registered client that negotiated `caps`."""
        client = self.raw()
        client.register(nick, caps)
        return client

    def account(self, nick: str, caps: tuple[str, ...] | list[str] = ()) -> IrcClient:
        """A registered client, logged in to a new account named after its nick."""
        client = self.user(nick, caps)
        client.send(f"REGISTER * * {PASSWORD}")
        client.expect("900")
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


# Password hashing cheap enough for tests (the production defaults take a while on purpose).
FAST_HASHING = {"hash_time_cost": 1, "hash_memory_kib": 64}
PASSWORD = "correct-horse-battery"


@contextmanager
def network(data_dir: Path, **sections: dict[str, Any]) -> Iterator[Network]:
    """A fresh server (config sections overridden by `sections`) and its clients."""
    sections.setdefault("accounts", FAST_HASHING)
    with ThreadedServer(server_config(data_dir, **sections)) as server:
        net = Network(server)
        try:
            yield net
        finally:
            net.close()


def sees_join(client: IrcClient, *nicks: str) -> None:
    """Wait until `client` has seen each of `nicks` join (in that order). With each client on
    another node (tests/cluster/test_nodes_conformance.py), a joiner's own JOIN completes
    before every other node has applied it: a KICK or MODE naming it sent at once from
    another node could find nobody there (441)."""
    for nick in nicks:
        client.until(lambda line, nick=nick: line.command == "JOIN" and line.nick == nick)


def ask(client: IrcClient, *lines: str, token: str = "conformance") -> list[Line]:
    """Send `lines` followed by a PING, and return every line up to (without) its PONG.

    Replies come in the order of the commands, so what arrives before the PONG is the whole
    answer to `lines`.
    """
    client.send(*lines, f"PING :{token}")
    got = client.until(lambda line: line.command == "PONG" and line.text == token)
    return got[:-1]


def numerics(lines: list[Line], *codes: str) -> list[Line]:
    return [line for line in lines if line.command in codes]


def first(lines: list[Line], predicate: Callable[[Line], bool]) -> Line:
    for line in lines:
        if predicate(line):
            return line
    raise AssertionError("no such line in:\n" + "\n".join(line.raw for line in lines))


def isupport(lines: list[Line]) -> dict[str, str]:
    """The RPL_ISUPPORT (005) tokens among `lines`, as {name: value}."""
    tokens: dict[str, str] = {}
    for line in numerics(lines, "005"):
        for token in line.params[1:-1]:
            name, _, value = token.partition("=")
            tokens[name] = value
    return tokens
