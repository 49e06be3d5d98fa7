"""The load generator against a real hubbub (a `hubbub serve --memory` child process)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.bench import Options, run
from hubbub.bench.report import json_line, table
from hubbub.bench.stalled import StalledClients
from support.config import write_config
from support.irc_client import IrcClient, clients
from support.servers import ServerProcess, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(port, pid) of a hubbub without flood control, history in memory."""
    tmp = tmp_path_factory.mktemp("bench-server")
    config = write_config(
        tmp / "hubbub.toml",
        tmp / "data",
        "[limits]\nclients_per_ip = 1000\n"
        '[log]\nlevel = "WARNING"\n[history]\nreplay_on_join = 20\n',
    )
    # At WARNING the server does not log where it listens: it gets its port from us.
    with ServerProcess(config, "--memory", port=free_port()) as proc:
        yield proc.port, proc.pid
        proc.terminate()


def test_fanout_delivers_everything_in_order(server: tuple[int, int]) -> None:
    port, pid = server
    record = run(
        Options("fanout", port=port, clients=20, senders=2, duration=1.0, workers=2, server_pid=pid)
    )
    r = record["results"]
    assert r["messages_sent"] > 0
    assert r["deliveries_expected"] == r["messages_sent"] * 19
    assert r["deliveries"] == r["deliveries_expected"]
    assert (r["lost"], r["duplicated"], r["out_of_order"], r["disconnected"]) == (0, 0, 0, 0)
    assert r["latency_samples"] == r["deliveries"]  # every receiver checked in full
    assert r["latency_ms"]["p50"] is not None
    assert r["server_cpu_s"] >= 0
    assert "deliveries/s" in table(record)
    assert json_line(record).startswith("{")


def test_rooms_and_fixed_rate_with_sampled_checks(server: tuple[int, int]) -> None:
    port, _ = server
    record = run(
        Options(
            "rooms",
            port=port,
            clients=24,
            rooms=4,
            senders=4,
            rate=200,
            window=0,
            duration=1.0,
            workers=1,
            check_every=3,
        )
    )
    r = record["results"]
    # 4 senders at 50 msg/s each for 1 s, each heard by the 5 others of its room.
    assert 40 * 4 <= r["messages_sent"] <= 52 * 4
    assert r["deliveries"] == r["deliveries_expected"] == r["messages_sent"] * 5
    assert (r["lost"], r["duplicated"], r["out_of_order"]) == (0, 0, 0)
    assert r["checked_receivers"] < 24


def test_connect_registers_everyone(server: tuple[int, int]) -> None:
    port, pid = server
    record = run(Options("connect", port=port, clients=50, workers=2, server_pid=pid, settle=0))
    r = record["results"]
    assert r["registered"] == 50
    assert r["failed"] == 0
    assert r["registration_ms"]["p99"] is not None
    assert "rss_per_connection_kb" in r


def test_history_replay_and_paging(server: tuple[int, int]) -> None:
    port, _ = server
    record = run(Options("history", port=port, clients=2, lines=250, page=100, duration=2.0))
    r = record["results"]
    assert "skipped" not in r
    assert r["replayed_lines"] == 20
    assert r["paged_lines"] == 250
    assert r["pages"] >= 3


def test_cli_help_and_missing_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    from hubbub.cli import main

    assert main(["bench", "fanout", "--help"]) == 0
    assert "--window" in capsys.readouterr().out
    assert main(["bench"]) == 2


def test_unreachable_server_is_an_error(tmp_path: Path) -> None:
    from hubbub.cli import main

    port = free_port()
    status = main(
        [
            *("bench", "connect", "--port", str(port), "-C", "2", "--setup-timeout", "2"),
            *("--json", str(tmp_path / "out.jsonl")),
        ]
    )
    assert status == 0  # the run completes and reports the failures
    assert '"failed":2' in (tmp_path / "out.jsonl").read_text()


def test_join_every_member_sees_every_joiner(server: tuple[int, int]) -> None:
    """`join`: each joiner gets its echo and its end of NAMES; every member sees every JOIN."""
    port, pid = server
    options = Options(
        "join", port=port, clients=50, joiners=5, window=1, workers=2, check_every=3,
        server_pid=pid,
    )  # fmt: skip
    r = run(options)["results"]
    assert (r["members"], r["joiners"], r["joined"]) == (50, 5, 5)
    assert r["names_replies"] == 5
    assert r["join_to_names_ms"]["p99"] is not None
    assert r["deliveries_expected"] == r["deliveries"] == 50 * 5
    assert (r["lost"], r["duplicated"], r["disconnected"]) == (0, 0, 0)
    assert r["checked_receivers"] == 17  # members 0, 3, …, 48
    assert r["fanout_latency_ms"]["p50"] is not None
    assert "no-implicit-names" not in r["joiner_caps"]
    assert r["join_errors"] == []
    # The answer holds at least the echo, the names of 50 or more members and their end.
    assert r["lines_per_join"] >= 3
    assert r["server_cpu_per_join_ms"] >= 0

    quiet = run(dataclasses.replace(options, no_implicit_names=True, window=2))["results"]
    assert "no-implicit-names" in quiet["joiner_caps"]
    assert quiet["joined"] == 5
    assert quiet["names_replies"] == 0
    assert quiet["join_to_names_ms"]["p50"] is None
    assert quiet["deliveries_expected"] == quiet["deliveries"] == 50 * 5
    assert (quiet["lost"], quiet["duplicated"]) == (0, 0)
    assert quiet["lines_per_join_max"] < r["lines_per_join_max"]
    assert quiet["bytes_per_join"] < r["bytes_per_join"]


def test_join_cli_prints_a_table_and_json(
    server: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    from hubbub.cli import main

    port, _ = server
    args = ["bench", "join", "--port", str(port), "-C", "6", "-J", "2", "--workers", "1"]
    assert main([*args, "--no-implicit-names", "--json", "-"]) == 0
    out = capsys.readouterr().out
    assert "JOINs/s" in out
    record = json.loads(out.splitlines()[-1])
    assert record["params"]["no_implicit_names"] is True
    assert record["results"]["deliveries"] == 12


def test_a_stalled_reader_is_cut_off_and_the_others_get_everything(tmp_path: Path) -> None:
    """A client that stops reading fills its send queue (small here) and is cut off; the
    measured clients still receive every message, in order."""
    config = write_config(
        tmp_path / "hubbub.toml",
        tmp_path / "data",
        '[limits]\nclients_per_ip = 1000\nsendq_bytes = 16384\n[log]\nlevel = "WARNING"\n',
    )
    with ServerProcess(config, "--memory", port=free_port()) as proc:
        record = run(
            Options(
                "fanout",
                port=proc.port,
                clients=10,
                senders=2,
                duration=2.0,
                workers=1,
                size=400,
                stalled=2,
                server_pid=proc.pid,
            )
        )
    r = record["results"]
    assert record["params"]["stalled"] == 2
    assert (r["stalled"], r["stalled_cut_off"]) == (2, 2)
    assert r["deliveries"] == r["deliveries_expected"] == r["messages_sent"] * 9
    assert (r["lost"], r["duplicated"], r["out_of_order"], r["disconnected"]) == (0, 0, 0, 0)


def test_connect_reports_the_server_threads(server: tuple[int, int]) -> None:
    port, pid = server
    record = run(Options("connect", port=port, clients=5, workers=1, server_pid=pid, settle=0))
    threads = record["results"]["server_threads"]
    # The asyncio server: its loop, the history, account and registry workers, the log writer.
    assert isinstance(threads, int) and threads >= 4


def test_a_stalled_client_refused_its_nick_fails_at_once(server: tuple[int, int]) -> None:
    """Stalled nicks fit in 9 characters (ngIRCd's NICKLEN); a refusal ends the setup with the
    server's line instead of waiting for a welcome that never comes."""
    port, _ = server
    holder = IrcClient(("127.0.0.1", port))
    with clients(holder):
        holder.register("s12340")
        stalled = StalledClients("127.0.0.1", port, "#room", 1, tag="b1234")
        try:
            with pytest.raises(OSError, match="433"):
                stalled.open(timeout=10)
        finally:
            stalled.close()
