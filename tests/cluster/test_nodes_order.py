"""One order everywhere: concurrent senders on different nodes, and `--workers`.

Issue 14: "Every node applies a room's events in sequence order, so all members everywhere see
the same order"; "`hubbub serve --workers N --cluster …`: N processes share the listening ports
(SO_REUSEPORT) and join through the same bus".
"""

from __future__ import annotations

import socket
import threading
from fractions import Fraction
from pathlib import Path

from node_helpers import cluster_toml, running_nodes

from support.config import write_config
from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.servers import ServerProcess, free_port
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

PER_SENDER = 40
# With 16 connections, all landing on one of two workers has a chance of 2 in 65,536.
CLIENTS = 16


def read_all(irc: IrcClient, count: int) -> list[str]:
    """The next `count` PRIVMSG texts (echoes included), in the order they came."""
    texts: list[str] = []

    def done(line: Line) -> bool:
        if line.command == "PRIVMSG":
            texts.append(line.text)
        return len(texts) == count

    irc.until(done, timeout=30.0, what=f"{count} messages")
    return texts


def test_concurrent_senders_on_three_nodes_see_one_order(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    with running_nodes(tmp_path, redis_url, fresh_postgres_url, 3) as nodes:
        clients = [IrcClient(node.address) for node in nodes]
        try:
            for index, irc in enumerate(clients):
                irc.register(f"sender{index}", ("echo-message",))
                irc.join("#race")
            # The last JOIN has reached every node before the race starts.
            for irc in clients[:-1]:
                irc.first(lambda line: line.command == "JOIN" and line.nick == "sender2")

            def send(index: int, irc: IrcClient) -> None:
                irc.say("#race", *(f"{index}-{number}" for number in range(PER_SENDER)))

            threads = [
                threading.Thread(target=send, args=(index, irc))
                for index, irc in enumerate(clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            total = PER_SENDER * len(clients)
            orders = [read_all(irc, total) for irc in clients]
        finally:
            for irc in clients:
                irc.close()
    assert orders[1] == orders[0] and orders[2] == orders[0]
    # Each sender's own lines keep their order, and the senders did interleave or not: the
    # point is that everyone saw the same interleaving.
    for index in range(3):
        mine = [text for text in orders[0] if text.startswith(f"{index}-")]
        assert mine == [f"{index}-{number}" for number in range(PER_SENDER)]


def test_workers_share_the_port_and_are_one_network(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    port = free_port()
    config_file = write_config(
        tmp_path / "w.toml", tmp_path / "w", cluster_toml(redis_url, fresh_postgres_url, "w")
    )
    with ServerProcess(config_file, "--workers", "2", port=port) as server:

        def both_listening() -> bool:
            return sum("listening on" in line for line in server.log) == 2

        wait_for(both_listening, 30.0, "both workers listening")
        clients = []
        try:
            for index in range(CLIENTS):
                irc = IrcClient(("127.0.0.1", port))
                irc.register(f"user{index}")
                irc.join("#all")
                clients.append(irc)
            clients[0].say("#all", "to everyone")
            for irc in clients[1:]:
                assert irc.first(lambda line: line.command == "PRIVMSG").text == "to everyone"
            # The kernel spread the connections over both workers (each counts its own).
            # Each client is told its worker's count n, so the clients of one worker add up
            # to n * (1/n) = 1: the sum over all clients is the number of workers in use.
            local_counts = []
            for irc in clients:
                irc.send("LUSERS")
                mine = irc.first(lambda line: line.command == "255")
                local_counts.append(int(mine.text.split()[2]))
            assert sum(Fraction(1, count) for count in local_counts) == 2, local_counts
        finally:
            for irc in clients:
                irc.close()
        # SIGTERM to the parent reaches both workers: a clean shutdown, no worker left.
        assert server.terminate() == 0, server.diagnostics()
        assert server.text.count("history flushed and closed") == 2, server.diagnostics()


def test_workers_end_with_their_parent(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """A parent killed with -9 takes its workers with it: none is left holding the port."""
    port = free_port()
    config_file = write_config(
        tmp_path / "w.toml", tmp_path / "w", cluster_toml(redis_url, fresh_postgres_url, "w")
    )
    with ServerProcess(config_file, "--workers", "2", port=port) as server:

        def both_listening() -> bool:
            return sum("listening on" in line for line in server.log) == 2

        wait_for(both_listening, 30.0, "both workers listening")
        server.kill()

        def port_free() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
            except OSError:
                return True
            return False

        wait_for(port_free, 30.0, "the workers gone after their parent")
