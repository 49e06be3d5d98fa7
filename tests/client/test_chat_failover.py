"""`hubbub chat` with a list of servers: a lost server moves the client to the next one.

Real servers on loopback and the real `hubbub chat --plain` in a subprocess. Two independent
servers (sharing nothing) show the list handling: the first one dies, the client goes on to
the second, says so, and is back in every room with the same nick. Two servers one after the
other on the same data directory (what a cluster's shared history looks like from one client)
show the catch-up: what was said while the client was away comes once, from CHATHISTORY AFTER
the last msgid it saw (asked again by time when the next server lost that line in the kill),
and nothing it saw before comes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from pathlib import Path

import pytest
from chat_helpers import TIME, WAIT, ChatProcess, joined

from hubbub.client.connection import Backoff, Connection
from hubbub.client.state import ClientState
from support.config import server_config, write_config
from support.irc_client import AsyncIrcClient
from support.servers import ServerProcess, ThreadedServer, free_port
from support.waiting import until

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

HISTORY_DB = "history.sqlite3"  # in the data directory, by default (hubbub.config.schema)


async def test_a_lost_server_moves_the_client_to_the_next_one_in_every_room(
    tmp_path: Path,
) -> None:
    first = ThreadedServer(server_config(tmp_path / "a", history={"backend": "memory"})).start()
    second = ThreadedServer(server_config(tmp_path / "b", history={"backend": "memory"})).start()
    bob = await AsyncIrcClient.connect(first.address)
    carol = await AsyncIrcClient.connect(second.address)
    chat = await ChatProcess.start(
        *("--server", f"127.0.0.1:{first.port},127.0.0.1:{second.port}"),
        *("--nick", "mover", "--room", "#lobby", "--room", "#side"),
    )
    try:
        await bob.register("bob")
        await bob.join("#lobby")
        await carol.register("carol")
        await carol.join("#lobby")
        await carol.join("#side")
        await bob.first(joined("mover", "#lobby"), timeout=WAIT)
        await bob.say("#lobby", "on the first server")
        await chat.line(rf"{TIME} <bob> on the first server", "bob's line on the first server")

        first.stop()  # the first server is gone: its sockets close under the client
        await carol.first(joined("mover", "#lobby"), timeout=WAIT)
        await carol.first(joined("mover", "#side"), timeout=WAIT)
        await carol.say("#side", "on the second server")
        await chat.line(rf"{TIME} #side <carol> on the second server", "carol's line in #side")
        where = f"127.0.0.1:{second.port}"
        moved = f"hubbub: now on {where} (moved from 127.0.0.1:{first.port})"
        assert moved in chat.err
        assert any(ln.startswith(f"hubbub: disconnected from 127.0.0.1:{first.port}: ") and
                   ln.endswith(f"; trying {where}") for ln in chat.err), chat.err  # fmt: skip
        assert await chat.quit() == 0
        await carol.first(lambda x: x.command == "QUIT" and x.nick == "mover", timeout=WAIT)
    finally:
        await chat.kill()
        await bob.close()
        await carol.close()
        first.stop()
        second.stop()


def _stored(data: Path, text: str) -> bool:
    """Whether the history store on `data` holds a committed record saying `text` (read
    through a connection of our own: it sees what the server committed, nothing else)."""
    with contextlib.closing(sqlite3.connect(f"file:{data / HISTORY_DB}?mode=ro", uri=True)) as db:
        found = db.execute("SELECT 1 FROM records WHERE params LIKE ?", (f'%"{text}"%',))
        return found.fetchone() is not None


def _forget(data: Path, text: str) -> None:
    """Remove the record saying `text`, as if it had been in the commit window at kill -9."""
    with contextlib.closing(sqlite3.connect(data / HISTORY_DB)) as db:
        db.execute("DELETE FROM records WHERE params LIKE ?", (f'%"{text}"%',))
        db.commit()


@pytest.mark.parametrize("lost_in_the_kill", [False, True], ids=["stored", "lost-in-the-kill"])
async def test_after_a_kill_9_the_next_server_replays_exactly_what_was_missed(
    tmp_path: Path, lost_in_the_kill: bool
) -> None:
    """The first server is killed with -9 while the client is stopped; the second, on the same
    data, holds a line said meanwhile. The client shows it once, behind a "missed" separator,
    and does not show again the line it saw before.

    The line before the move was delivered before the kill, but the SQLite history commits
    when its queue has stayed empty 5 ms (hubbub.history.worker): a kill -9 within that window
    loses it, and the second server does not know the msgid the client asks AFTER (it answers
    with an empty batch). Both cases are made certain here: the line committed before the kill,
    or its record removed after it (what the commit window loses). The client must be right
    either way."""
    data = tmp_path / "data"
    config = write_config(tmp_path / "hubbub.toml", data)
    second_port = free_port()
    first = ServerProcess(config).__enter__()
    chat: ChatProcess | None = None
    bob: AsyncIrcClient | None = None
    carol: AsyncIrcClient | None = None
    try:
        chat = await ChatProcess.start(
            *("--server", f"127.0.0.1:{first.port}", "--server", f"127.0.0.1:{second_port}"),
            *("--nick", "mover"),
        )
        bob = await AsyncIrcClient.connect(first.address)
        await bob.register("bob")
        await bob.join("#lobby")
        await bob.first(joined("mover", "#lobby"), timeout=WAIT)
        await bob.say("#lobby", "before the move")
        await chat.line(rf"{TIME} <bob> before the move", "the line before the move")
        await bob.close()
        if not lost_in_the_kill:
            await until(lambda: _stored(data, "before the move"), WAIT, "its commit")

        # Frozen, the client cannot move before the line it is to miss has been said.
        chat.proc.send_signal(signal.SIGSTOP)
        first.kill()
        if lost_in_the_kill:
            _forget(data, "before the move")
        assert _stored(data, "before the move") is not lost_in_the_kill
        with ServerProcess(config, port=second_port) as second:
            carol = await AsyncIrcClient.connect(second.address)
            await carol.register("carol")
            await carol.join("#lobby")
            await carol.say("#lobby", "while you were away")
            await carol.fence()
            chat.proc.send_signal(signal.SIGCONT)
            await carol.first(joined("mover", "#lobby"), timeout=WAIT)
            await chat.line(rf"{TIME} <carol> while you were away", "the missed line")
            await carol.say("#lobby", "the end")
            await chat.line(rf"{TIME} <carol> the end", "a live line after the move")
            said = [ln for ln in chat.out if "<" in ln]
            assert [ln.split("> ", 1)[1] for ln in said] == [
                "before the move",
                "while you were away",
                "the end",
            ], chat.out
            assert "-- missed while disconnected: 1 message --" in chat.out, chat.out
            assert (
                f"hubbub: now on 127.0.0.1:{second_port} (moved from 127.0.0.1:{first.port})"
                in (chat.err)
            )
            assert await chat.quit() == 0
    finally:
        if chat is not None:
            if chat.proc.returncode is None:
                chat.proc.send_signal(signal.SIGCONT)  # in case a failure left it stopped
            await chat.kill()
        for client in (bob, carol):
            if client is not None:
                await client.close()
        first.close()


async def test_servers_that_refuse_are_skipped_without_waiting_until_all_have_failed(
    tmp_path: Path,
) -> None:
    """Round robin: a refused server hands over to the next one at once; the backoff pause
    comes only when the whole list has failed in a row."""
    dead = free_port()
    statuses: list[str] = []
    with ThreadedServer(server_config(tmp_path / "data", history={"backend": "memory"})) as live:
        state = ClientState("rover", ("#lobby",))
        connection = Connection(
            state,
            "127.0.0.1",
            dead,
            lambda events: None,
            backoff=Backoff(base=0.05),
            on_status=statuses.append,
            more_servers=[("127.0.0.1", live.port)],
        )
        runner = asyncio.create_task(connection.run())
        try:
            await until(lambda: state.registered or runner.done(), WAIT, "registered")
            assert state.registered, statuses
            assert connection.where == f"127.0.0.1:{live.port}"
            assert statuses[:3] == [
                f"connecting to 127.0.0.1:{dead}…",
                f"cannot connect to 127.0.0.1:{dead}: connection refused (is the server "
                f"running?); trying 127.0.0.1:{live.port}",
                f"connecting to 127.0.0.1:{live.port}…",
            ]
            # The first registration is not a move.
            assert not any(text.startswith("now on") for text in statuses)

            live.stop()  # now both refuse: after trying the dead one, a pause
            await until(
                lambda: runner.done() or any("reconnecting in" in text for text in statuses),
                WAIT,
                "a pause before reconnecting",
            )
            assert not runner.done(), statuses
            after = statuses[statuses.index(f"connecting to 127.0.0.1:{live.port}…") + 1 :]
            assert after[0].startswith(f"disconnected from 127.0.0.1:{live.port}: ")
            assert after[0].endswith(f"; trying 127.0.0.1:{dead}")
            assert after[1] == f"connecting to 127.0.0.1:{dead}…"
            assert after[2].startswith(f"cannot connect to 127.0.0.1:{dead}: ")
            assert "reconnecting in" in after[2]
        finally:
            connection.stop()
            await asyncio.wait_for(runner, WAIT)


async def test_the_first_connection_tries_every_server_of_the_list_once(tmp_path: Path) -> None:
    """Line mode gives up when the first connection fails (there is no one to wait for it),
    but only once every server of the list has refused."""
    dead, also_dead = free_port(), free_port()
    with ThreadedServer(server_config(tmp_path / "data", history={"backend": "memory"})) as live:
        bob = await AsyncIrcClient.connect(live.address)
        try:
            await bob.register("bob")
            await bob.join("#lobby")
            chat = await ChatProcess.start(
                *("--server", f"127.0.0.1:{dead},127.0.0.1:{live.port}", "--nick", "bot"),
                "--once",
                stdin=b"through the second\n",
            )
            assert await chat.wait() == 0, chat.err
            said = await bob.first(lambda x: x.command == "PRIVMSG")
            assert (said.nick, said.text) == ("bot", "through the second")
            assert chat.err == [
                f"hubbub: cannot connect to 127.0.0.1:{dead}: connection refused (is the server "
                f"running?); trying 127.0.0.1:{live.port}"
            ]
        finally:
            await bob.close()
    chat = await ChatProcess.start(
        *("--server", f"127.0.0.1:{dead},127.0.0.1:{also_dead}", "--nick", "bot"),
        "--once",
        stdin=b"nowhere to go\n",
    )
    assert await chat.wait() == 1
    assert chat.err[-1] == (
        f"hubbub: cannot connect to 127.0.0.1:{also_dead}: connection refused (is the server "
        "running?)"
    )


async def test_a_nick_still_held_is_taken_back_when_it_is_free(tmp_path: Path) -> None:
    """After a move the nick may still be held (by the client's own lost connection, until the
    network drops it): the client comes as mover_ and takes mover back as soon as the server
    says it is free (MONITOR)."""
    with ThreadedServer(server_config(tmp_path / "data", history={"backend": "memory"})) as live:
        holder = await AsyncIrcClient.connect(live.address)
        bob = await AsyncIrcClient.connect(live.address)
        chat: ChatProcess | None = None
        try:
            await holder.register("mover")
            await bob.register("bob")
            await bob.join("#lobby")
            chat = await ChatProcess.start("--server", f"127.0.0.1:{live.port}", "--nick", "mover")
            await bob.first(joined("mover_", "#lobby"), timeout=WAIT)
            await holder.send("QUIT :gone")
            renamed = await bob.first(lambda x: x.command == "NICK", timeout=WAIT)
            assert (renamed.nick, renamed.params[0]) == ("mover_", "mover")
            await chat.until(
                lambda: any(ln.endswith("-- you are now known as mover") for ln in chat.out),
                "the client to say its nick is back",
            )
            assert "hubbub: the nick mover is in use; trying mover_" in chat.err
            assert await chat.quit() == 0
        finally:
            if chat is not None:
                await chat.kill()
            await holder.close()
            await bob.close()
