"""Metrics and health over HTTP from a real server, after a scripted conversation."""

from __future__ import annotations

import http.client
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from hubbub.app import App
from hubbub.history.record import Record
from hubbub.history.store import HistoryStore
from support.config import server_config
from support.irc_client import IrcClient
from support.metrics import get, samples, value
from support.servers import ThreadedServer
from support.waiting import wait_for


def metrics_config(tmp_path: Path, **sections: dict[str, object]) -> object:
    return server_config(
        tmp_path, metrics={"enabled": True, "host": "127.0.0.1", "port": 0}, **sections
    )


def test_metrics_count_a_scripted_conversation(tmp_path: Path) -> None:
    with ThreadedServer(metrics_config(tmp_path)) as server:  # type: ignore[arg-type]
        alice = IrcClient(server.address)
        bob = IrcClient(server.address)
        carol = IrcClient(server.address)
        lurker = IrcClient(server.address)  # connected, never registers
        try:
            for client, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
                client.register(nick)
                client.join("#room")
            alice.say("#room", "one", "two", "three")
            for client in (bob, carol):
                client.until(lambda line: line.command == "PRIVMSG" and line.text == "three")
            bob.say("#room", "hi")
            alice.until(lambda line: line.command == "PRIVMSG" and line.text == "hi")
            carol.until(lambda line: line.command == "PRIVMSG" and line.text == "hi")
            lurker.send("NICK lurker")  # no USER: not registered
            alice.fence()

            def lurker_seen() -> bool:
                found = samples(server)
                return (
                    value(found, "hubbub_connections", transport="tcp", state="unregistered") == 1
                )

            wait_for(lurker_seen, 10, "the unregistered connection counted")
            found = samples(server)
            assert value(found, "hubbub_connections", transport="tcp", state="registered") == 3
            assert value(found, "hubbub_registrations_total") == 3
            assert value(found, "hubbub_users") == 3
            assert value(found, "hubbub_channels") == 1
            assert value(found, "hubbub_channel_members") == 3
            assert value(found, "hubbub_messages_received_total", command="PRIVMSG") == 4
            assert value(found, "hubbub_messages_received_total", command="JOIN") == 3
            # Four messages, each to the two other members.
            assert value(found, "hubbub_deliveries_total", command="PRIVMSG") == 8
            # Fan-outs of two recipients land in the bucket "up to 3", not in "up to 1".
            before = value(found, "hubbub_fanout_recipients_bucket", le="1.0")
            after = value(found, "hubbub_fanout_recipients_bucket", le="3.0")
            assert after - before >= 4
            # Each message was stored: four history records committed, none waiting.
            wait_for(
                lambda: value(samples(server), "hubbub_history_pending") == 0,
                10,
                "history committed",
            )
            found = samples(server)
            assert value(found, "hubbub_history_commit_seconds_count") >= 1
            assert value(found, "hubbub_history_store_failing") == 0
            assert value(found, "hubbub_sendq_drops_total", transport="tcp") == 0
            assert value(found, "process_open_fds") > 0
            assert value(found, "process_resident_memory_bytes") > 0
            carol.send("QUIT :bye")
            carol.until_closed()
            wait_for(
                lambda: value(samples(server), "hubbub_deliveries_total", command="QUIT") == 2,
                10,
                "the QUIT delivered to the two others",
            )
        finally:
            for client in (alice, bob, carol, lurker):
                client.close()


def test_event_loop_lag_is_measured(tmp_path: Path) -> None:
    with ThreadedServer(metrics_config(tmp_path)) as server:  # type: ignore[arg-type]
        wait_for(
            lambda: value(samples(server), "hubbub_event_loop_lag_seconds_count") >= 1,
            15,
            "one loop-lag measurement",
        )


class BreakableStore:
    """The real history store, whose writes fail as a broken disk's do while `broken` is set."""

    def __init__(self, inner: HistoryStore, broken: threading.Event) -> None:
        self.inner = inner
        self.broken = broken

    def _check(self) -> None:
        if self.broken.is_set():
            raise sqlite3.OperationalError("disk I/O error (broken by the test)")

    def append(self, records: Sequence[Record]) -> None:
        self._check()
        self.inner.append(records)

    def commit(self) -> None:
        self._check()
        self.inner.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_health_and_readiness(tmp_path: Path) -> None:
    """The history writer owns its `failing` state (it clears it at its next good commit), so
    the store is broken for real, not the flag set from outside: a test that set the flag raced
    with the writer finishing earlier work (the retention sweep at start, late under load)."""
    broken = threading.Event()

    class BreakableApp(App):
        def open_history_store(self) -> HistoryStore:
            return cast(HistoryStore, BreakableStore(super().open_history_store(), broken))

    config = metrics_config(tmp_path)
    with ThreadedServer(config, app_class=BreakableApp) as server:  # type: ignore[arg-type]
        assert get(server, "/healthz") == (200, "ok\n")
        assert get(server, "/readyz") == (200, "ready\n")
        assert get(server, "/nothing")[0] == 404
        assert server.app is not None
        worker = server.app.worker
        assert worker is not None
        # The store failing makes the server not ready, and says why.
        broken.set()
        worker.submit(lambda store: None)  # work to commit: the commit fails
        wait_for(lambda: get(server, "/readyz")[0] == 503, what="/readyz to say 503")
        assert "history store failing to write" in get(server, "/readyz")[1]
        # The writer's retry succeeds once the store works again: ready again.
        broken.clear()
        wait_for(lambda: get(server, "/readyz") == (200, "ready\n"), what="/readyz to recover")
        assert worker.incidents == 1


def test_metrics_are_off_by_default(tmp_path: Path) -> None:
    with ThreadedServer(server_config(tmp_path)) as server:
        assert server.app is not None
        assert server.app.metrics is None
        assert server.app.metrics_addresses == []


def test_the_grafana_dashboard_uses_only_metrics_the_server_exports(tmp_path: Path) -> None:
    import json
    import re

    dashboard = json.loads(
        (Path(__file__).parents[2] / "examples" / "grafana-hubbub.json").read_text()
    )
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b((?:hubbub|process)_[a-z_]+)", target["expr"])
    }
    assert used
    with ThreadedServer(metrics_config(tmp_path)) as server:  # type: ignore[arg-type]
        # Counters by command have samples once something was said.
        alice, bob = IrcClient(server.address), IrcClient(server.address)
        try:
            for client, nick in ((alice, "alice"), (bob, "bob")):
                client.register(nick)
                client.join("#room")
            alice.say("#room", "hello")
            bob.until(lambda line: line.command == "PRIVMSG")
            exported = {name for name, _labels in samples(server)}
        finally:
            alice.close()
            bob.close()
    assert used <= exported, sorted(used - exported)


def test_logins_and_room_flood_refusals_are_counted(tmp_path: Path) -> None:
    config = metrics_config(
        tmp_path, accounts={"hash_time_cost": 1, "hash_memory_kib": 64, "login_attempts": 1}
    )
    with ThreadedServer(config) as server:  # type: ignore[arg-type]
        alice, guesser = IrcClient(server.address), IrcClient(server.address)
        try:
            alice.register("alice")
            alice.send("REGISTER * * correct-horse-battery")  # registers and logs in
            alice.expect("900")
            guesser.register("guesser")
            guesser.send("PRIVMSG NickServ :IDENTIFY alice wrong-password")
            guesser.fence()  # the PONG comes after the (late) answer: per-client order
            guesser.send("PRIVMSG NickServ :IDENTIFY alice wrong-again")  # the bucket is empty
            guesser.fence()
            alice.join("#room")
            alice.send("MODE #room +f 1:600")
            alice.expect("MODE")
            guesser.join("#room")
            guesser.say("#room", "one", "two")
            guesser.expect("404")

            def counted() -> bool:
                found = samples(server)
                return (
                    value(found, "hubbub_logins_total", result="success") == 1
                    and value(found, "hubbub_logins_total", result="failure") == 1
                    and value(found, "hubbub_logins_total", result="throttled") == 1
                )

            wait_for(counted, 10, "one login of each result")
            found = samples(server)
            assert value(found, "hubbub_room_flood_throttles_total") == 1
            assert value(found, "hubbub_ban_refusals_total", kind="kline") == 0
        finally:
            alice.close()
            guesser.close()


def test_serve_metrics_port_flag_turns_metrics_on(tmp_path: Path) -> None:
    """`hubbub serve --metrics-port N` in a real process: /readyz answers on N."""
    from support.config import write_config
    from support.servers import ServerProcess, free_port

    port = free_port()
    config_file = write_config(tmp_path / "hubbub.toml", tmp_path / "data")
    with ServerProcess(config_file, "--metrics-port", str(port)) as process:

        def ready() -> bool:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/readyz")
                return connection.getresponse().status == 200
            except OSError:
                return False

        wait_for(ready, 15, "the metrics listener answering /readyz")
        wait_for(lambda: "metrics at http://127.0.0.1:" in process.text, 15, "the log line")
