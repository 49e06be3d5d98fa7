"""Several servers (`--server`, repeated): which client connects where, pure planning."""

from __future__ import annotations

import pytest

from hubbub.bench.options import Options, options_from_args
from hubbub.bench.runner import BenchError, plan_traffic
from hubbub.cli import build_parser

TWO = (("127.0.0.1", 7001), ("127.0.0.1", 7002))


def servers_of(options: Options, workers: int = 2) -> dict[int, int]:
    plans = plan_traffic(options, workers, "t")
    return {member.index: member.server for plan in plans for member in plan.members}


def test_one_server_by_default_everyone_on_it() -> None:
    options = Options("fanout", port=7000, clients=6, senders=2)
    assert options.endpoints() == (("127.0.0.1", 7000),)
    assert set(servers_of(options).values()) == {0}
    assert "servers" not in options.as_params()


def test_round_robin_spreads_clients_and_senders_over_servers() -> None:
    options = Options("fanout", clients=8, senders=4, servers=TWO)
    placed = servers_of(options)
    assert placed == {i: i % 2 for i in range(8)}
    plans = plan_traffic(options, 2, "t")
    assert all(plan.server_of == {s: s % 2 for s in range(4)} for plan in plans)
    assert options.as_params()["servers"] == ["127.0.0.1:7001", "127.0.0.1:7002"]


def test_senders_apart_puts_no_receiver_beside_a_sender() -> None:
    three = (*TWO, ("127.0.0.1", 7003))
    options = Options("fanout", clients=10, senders=3, servers=three, placement="senders-apart")
    placed = servers_of(options, workers=3)
    assert [placed[i] for i in range(3)] == [0, 0, 0]
    assert [placed[i] for i in range(3, 10)] == [1, 2, 1, 2, 1, 2, 1]


def test_senders_apart_needs_clients_that_do_not_send() -> None:
    options = Options("fanout", clients=3, senders=3, servers=TWO, placement="senders-apart")
    with pytest.raises(BenchError, match="do not send"):
        plan_traffic(options, 1, "t")


def test_command_line_takes_a_list_of_servers() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["bench", "fanout", "--server", "127.0.0.1:7001", "--server", "[::1]:7002",
         "--placement", "senders-apart"]
    )  # fmt: skip
    options = options_from_args(args)
    assert options.servers == (("127.0.0.1", 7001), ("::1", 7002))
    assert options.placement == "senders-apart"
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "fanout", "--server", "127.0.0.1"])
