"""Helpers of the multi-node tests: hubbub nodes on one real Redis bus and one real PostgreSQL.

Each node is the real `App` (`support.servers.ThreadedServer`, in-process on its own loop) or
`hubbub serve` as a child process (`ServerProcess`, for kill -9), configured by `node_config`:
loopback, its own data directory, the shared store and the shared bus, with a short lease so a
lost node is noticed quickly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hubbub.config import Config
from support.config import server_config
from support.irc_client import IrcClient, Line
from support.servers import ThreadedServer

#: A node that stops renewing its lease is dead after this long (tests: short).
LEASE_MS = 1500
HEARTBEAT_MS = 150


def node_config(
    data_dir: Path, redis_url: str, store_url: str, node_id: str, **sections: dict[str, Any]
) -> Config:
    cluster = {"url": redis_url, "node_id": node_id, "lease_ms": LEASE_MS}
    cluster["heartbeat_ms"] = HEARTBEAT_MS
    cluster.update(sections.pop("cluster", {}))
    history = {"backend": "postgres", "url": store_url, **sections.pop("history", {})}
    return server_config(data_dir, cluster=cluster, history=history, **sections)


def cluster_toml(redis_url: str, store_url: str, node_id: str) -> str:
    """The same settings as `node_config`, as TOML for `hubbub serve`."""
    return (
        f'\n[history]\nbackend = "postgres"\nurl = "{store_url}"\n'
        f'\n[cluster]\nurl = "{redis_url}"\nnode_id = "{node_id}"\n'
        f"lease_ms = {LEASE_MS}\nheartbeat_ms = {HEARTBEAT_MS}\n"
    )


@contextlib.contextmanager
def running_nodes(
    tmp_path: Path,
    redis_url: str,
    store_url: str,
    count: int = 2,
    *,
    named: bool = False,
    **sections: dict[str, Any],
) -> Iterator[list[ThreadedServer]]:
    """`count` in-process nodes of one network, stopped on the way out. `named`: each its own
    server, node0.example, node1.example and so on (else every node is hubbub.local)."""
    with contextlib.ExitStack() as stack:
        nodes = []
        for index in range(count):
            node_sections = sections
            if named:
                server = {"name": f"node{index}.example", "description": f"node {index}"}
                node_sections = {**sections, "server": {**sections.get("server", {}), **server}}
            config = node_config(
                tmp_path / f"node{index}", redis_url, store_url, f"node{index}", **node_sections
            )
            nodes.append(stack.enter_context(ThreadedServer(config)))
        yield nodes


@contextlib.contextmanager
def client(node: Any, nick: str, caps: tuple[str, ...] = ()) -> Iterator[IrcClient]:
    """A registered client of `node` (anything with an `address`)."""
    irc = IrcClient(node.address)
    try:
        irc.register(nick, caps)
        yield irc
    finally:
        irc.close()


def takes_nick(irc: IrcClient, nick: str) -> bool:
    """Ask for `nick`: whether it was given (NICK) rather than refused (433)."""
    irc.send(f"NICK {nick}")
    return irc.first(lambda line: line.command in ("433", "NICK")).command == "NICK"


def texts(lines: list[Line], command: str = "PRIVMSG") -> list[str]:
    return [line.text for line in lines if line.command == command]
