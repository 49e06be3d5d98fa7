"""The full-screen client, headless (Textual's Pilot), against a real hubbub server.

The other party is `support.irc_client.AsyncIrcClient`, a raw client written in the tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, RichLog, Static

from hubbub.client.model import Kind
from hubbub.client.options import ChatOptions
from hubbub.client.ui import ChatApp
from support.config import server_config
from support.irc_client import AsyncIrcClient
from support.servers import ThreadedServer, free_port
from support.waiting import until

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]

SIZE = (120, 32)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    with ThreadedServer(server_config(tmp_path / "data", history={"backend": "memory"})) as running:
        yield running


def options(port: int, nick: str = "alice", *rooms: str) -> ChatOptions:
    return ChatOptions(port=port, nick=nick, rooms=rooms or ("#lobby",), backoff_base=0.1)


def log_text(app: ChatApp) -> str:
    log = app.query_one("#log", RichLog)
    return "\n".join(strip.text for strip in log.lines)


def static_text(app: ChatApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def texts(app: ChatApp, key: str = "#lobby") -> list[str]:
    return [line.text for line in app.state.buffers[key].lines if line.kind is Kind.MESSAGE]


async def joined(pilot: Pilot[int], app: ChatApp, key: str = "#lobby") -> None:
    await until(
        lambda: key in app.state.buffers and app.state.buffers[key].joined,
        what=f"the client to join {key}",
        pause=lambda: pilot.pause(0.05),
    )


async def test_history_is_shown_on_join_marked_as_history(server: ThreadedServer) -> None:
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await bob.register("bob")
        await bob.join("#lobby")
        await bob.send("TOPIC #lobby :plans for the weekend")
        await bob.say("#lobby", "first from the past", "second from the past")
        await bob.first(lambda x: x.command == "TOPIC")
        app = ChatApp(options(server.port))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            await until(
                lambda: "second from the past" in log_text(app),
                what="the history to be drawn",
                pause=lambda: pilot.pause(0.05),
            )
            lines = app.state.buffers["#lobby"].lines
            history = [ln for ln in lines if ln.kind is Kind.MESSAGE]
            assert [ln.text for ln in history] == ["first from the past", "second from the past"]
            assert all(ln.history and ln.nick == "bob" for ln in history)
            assert "history: 2 messages" in log_text(app)
            # The separator comes before the replayed lines, drawn with their times.
            shown = log_text(app)
            assert shown.index("history: 2 messages") < shown.index("first from the past")
            assert "<bob> first from the past" in shown
            assert "plans for the weekend" in static_text(app, "#topic")
            assert "@bob" in static_text(app, "#members")
            assert "alice" in static_text(app, "#members")
    finally:
        await bob.close()


async def test_a_message_arrives_while_typing_and_the_input_is_untouched(
    server: ThreadedServer,
) -> None:
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await bob.register("bob")
        await bob.join("#lobby")
        app = ChatApp(options(server.port))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            await pilot.press(*"half a thou")
            box = app.query_one("#input", Input)
            assert box.value == "half a thou"
            cursor = box.cursor_position
            await bob.say("#lobby", "alice, are you there?")
            await until(
                lambda: "alice, are you there?" in log_text(app),
                what="bob's line to appear",
                pause=lambda: pilot.pause(0.05),
            )
            assert box.value == "half a thou"
            assert box.cursor_position == cursor
            assert app.focused is box
            # The mention is marked; then typing simply continues and the line is sent.
            line = app.state.buffers["#lobby"].lines[-1]
            assert line.mention and not line.history
            await pilot.press(*"ght", "enter")
            got = await bob.first(lambda x: x.command == "PRIVMSG")
            assert (got.nick, got.text) == ("alice", "half a thought")
            await until(
                lambda: "<alice> half a thought" in log_text(app),
                what="our own echoed line",
                pause=lambda: pilot.pause(0.05),
            )
            assert box.value == ""
    finally:
        await bob.close()


async def test_join_opens_a_second_room_and_keys_switch_windows(server: ThreadedServer) -> None:
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await bob.register("bob")
        await bob.join("#lobby")
        app = ChatApp(options(server.port))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            await pilot.press(*"/join #second", "enter")
            await joined(pilot, app, "#second")
            await until(
                lambda: app.state.active == "#second",
                what="the client to switch to #second",
                pause=lambda: pilot.pause(0.05),
            )
            assert "#second" in static_text(app, "#topic")
            rooms = static_text(app, "#rooms")
            assert "#lobby" in rooms and "#second" in rooms
            # A line in the other room counts as unread, and a mention is marked.
            await bob.say("#lobby", "quiet in here", "alice: look")
            await until(
                lambda: app.state.buffers["#lobby"].unread == 2,
                what="unread lines in #lobby",
                pause=lambda: pilot.pause(0.05),
            )
            assert app.state.buffers["#lobby"].mentions == 1
            assert "#lobby @1 2" in static_text(app, "#rooms")
            await pilot.press("ctrl+p")  # back to #lobby
            assert app.state.active == "#lobby"
            assert app.state.buffers["#lobby"].unread == 0
            assert "alice: look" in log_text(app)
            await pilot.press("ctrl+n")
            assert app.state.active == "#second"
            await pilot.press("alt+1")
            assert app.state.active == "*"
            # What Textual reports for ESC 2, the way real terminals send Alt+2:
            await pilot.press("trade_mark_sign")
            assert app.state.active == "#lobby"
            assert app.query_one("#input", Input).value == ""
    finally:
        await bob.close()


async def test_reconnect_after_restart_shows_missed_lines_without_duplicates(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = server_config(tmp_path / "data", listen={"port": port})
    first = ThreadedServer(config).__enter__()
    # The first reconnection attempt comes 0.5 to 1 s after the drop: time enough for carol
    # to say something on the restarted server that the client can only get from history.
    app = ChatApp(dataclasses.replace(options(port), backoff_base=1.0))
    try:
        async with app.run_test(size=SIZE) as pilot:
            bob = await AsyncIrcClient.connect(("127.0.0.1", port))
            await bob.register("bob")
            await bob.join("#lobby")
            await bob.say("#lobby", "before the restart")
            await joined(pilot, app)
            await until(
                lambda: "before the restart" in texts(app),
                what="the live line",
                pause=lambda: pilot.pause(0.05),
            )
            await bob.close()

            first.stop()
            await until(
                lambda: not app.state.registered,
                what="the client to notice the server went away",
                pause=lambda: pilot.pause(0.05),
            )
            assert "disconnected" in app.status_text or "reconnecting" in app.status_text
            assert "disconnected" in log_text(app)

            # Same data directory, same port. Say something the client has not seen, before
            # it is back: it must fetch it (CHATHISTORY AFTER its last msgid) exactly once.
            with ThreadedServer(config):
                carol = await AsyncIrcClient.connect(("127.0.0.1", port))
                await carol.register("carol")
                await carol.join("#lobby")
                await carol.say("#lobby", "while you were away")
                await joined(pilot, app)
                await until(
                    lambda: "while you were away" in texts(app),
                    what="the missed line",
                    pause=lambda: pilot.pause(0.05),
                )
                await carol.say("#lobby", "welcome back")
                await until(
                    lambda: "welcome back" in texts(app),
                    what="a live line after the reconnection",
                    pause=lambda: pilot.pause(0.05),
                )
                # A last line as a fence: whatever the server sent the client before it (a
                # duplicate from history, say) has been drawn once this one is.
                await carol.say("#lobby", "the end")
                await until(
                    lambda: "the end" in texts(app),
                    what="the fence line",
                    pause=lambda: pilot.pause(0.05),
                )
                assert texts(app) == [
                    "before the restart",
                    "while you were away",
                    "welcome back",
                    "the end",
                ]
                missed = [ln for ln in app.state.buffers["#lobby"].lines if ln.history]
                assert any("missed while disconnected" in ln.text for ln in missed)
                shown = log_text(app)
                assert shown.count("before the restart") == 1
                assert shown.count("while you were away") == 1
                await carol.close()
                await app.action_leave()
    finally:
        first.stop()


async def test_a_lost_server_moves_the_app_to_the_next_one_and_the_status_says_where(
    server: ThreadedServer, tmp_path: Path
) -> None:
    first = ThreadedServer(server_config(tmp_path / "first", history={"backend": "memory"}))
    first.start()
    moving = dataclasses.replace(options(first.port), more_servers=(("127.0.0.1", server.port),))
    app = ChatApp(moving)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            assert app.connection.where == f"127.0.0.1:{first.port}"
            first.stop()
            await until(
                lambda: app.state.registered and app.connection.port == server.port,
                what="the client to be on the second server",
                pause=lambda: pilot.pause(0.05),
            )
            await joined(pilot, app)
            where = f"127.0.0.1:{server.port}"
            await until(
                lambda: f"now on {where} (moved from 127.0.0.1:{first.port})" in app.status_text,
                what="the status line to say where the client is now",
                pause=lambda: pilot.pause(0.05),
            )
            assert app.state.nick == "alice"
            await app.action_leave()
    finally:
        first.stop()


async def test_nick_in_use_is_explained_and_another_nick_is_used(server: ThreadedServer) -> None:
    squatter = await AsyncIrcClient.connect(server.address)
    try:
        await squatter.register("alice")
        app = ChatApp(options(server.port))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            assert app.state.nick == "alice_"
            assert "the nick alice is in use; trying alice_" in log_text(app)
            assert "as alice_" in app.status_text
    finally:
        await squatter.close()


async def test_commands_give_clear_messages(server: ThreadedServer) -> None:
    app = ChatApp(options(server.port))
    async with app.run_test(size=SIZE) as pilot:
        await joined(pilot, app)
        await pilot.press(*"/frobnicate", "enter")
        await pilot.press(*"/msg", "enter")
        await pilot.press(*"/help", "enter")
        await until(
            lambda: "/history [N]" in log_text(app),
            what="the help text",
            pause=lambda: pilot.pause(0.05),
        )
        shown = log_text(app)
        assert "unknown command /frobnicate (/help lists the commands)" in shown
        assert "usage: /msg NICK|#room TEXT" in shown
        assert "/history [N]" in shown
        await pilot.press(*"/quit bye", "enter")
        await until(lambda: app.return_value is not None, what="the client to exit")
    assert app.return_value == 0
