"""The full-screen client's modern IRCv3 features, headless (Textual's Pilot), against a real
hubbub on loopback: read markers synced with another connection of the same account, edits,
multiline messages, typing notices, nick completion — and the same client asking for none of
the new capabilities (standing in for a server without them) still working.

The other parties are `support.irc_client.AsyncIrcClient`, raw clients written in the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.events import Paste
from textual.pilot import Pilot
from textual.widgets import Input, RichLog, Static

from hubbub.client.model import Kind
from hubbub.client.options import ChatOptions
from hubbub.client.state import MODERN_CAPS, WANTED_CAPS
from hubbub.client.ui import NEWLINE_MARK, ChatApp
from hubbub.protocol.servertime import format_server_time, parse_server_time
from support.config import server_config
from support.irc_client import AsyncIrcClient, Line
from support.servers import ThreadedServer
from support.waiting import until

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]

SIZE = (120, 32)
PASSWORD = "correct-horse-battery"
CAPS = ["batch", "server-time", "message-tags", "echo-message", "draft/multiline"]
CAPS += ["draft/message-edit", "draft/read-marker"]
# The client asking for none of the new drafts and not even message-tags: what it would get
# from a server without them (typing rides on message-tags).
OLD_SERVER_CAPS = tuple(c for c in WANTED_CAPS if c not in (*MODERN_CAPS, "message-tags"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    config = server_config(
        tmp_path / "data",
        history={"backend": "memory"},
        accounts={"hash_time_cost": 1, "hash_memory_kib": 64},
    )
    with ThreadedServer(config) as running:
        yield running


def options(port: int, nick: str = "alice", *rooms: str, **more: object) -> ChatOptions:
    return ChatOptions(
        port=port,
        nick=nick,
        rooms=rooms or ("#lobby",),
        backoff_base=0.1,
        **more,  # type: ignore[arg-type]
    )


def log_text(app: ChatApp) -> str:
    return "\n".join(strip.text for strip in app.query_one("#log", RichLog).lines)


def static_text(app: ChatApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def wait(pilot: Pilot[int], predicate: Callable[[], object], what: str) -> None:
    await until(predicate, what=what, pause=lambda: pilot.pause(0.05))


async def joined(pilot: Pilot[int], app: ChatApp, key: str = "#lobby") -> None:
    await wait(pilot, lambda: key in app.state.buffers and app.state.buffers[key].joined, key)


def from_alice(command: str) -> Callable[[Line], bool]:
    return lambda x: x.command == command and x.nick == "alice"


def privmsg(text: str) -> Callable[[Line], bool]:
    return lambda x: x.command == "PRIVMSG" and x.text == text


async def test_read_markers_sync_with_another_connection_of_the_account(
    server: ThreadedServer,
) -> None:
    phone = await AsyncIrcClient.connect(server.address)
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await phone.register("alice", CAPS)
        await phone.send(f"REGISTER * * {PASSWORD}")
        await phone.first(lambda x: x.command == "900", what="the account")
        await phone.join("#lobby")
        await bob.register("bob")
        await bob.join("#lobby")
        # The laptop is on #second, and logs in to the same account from the input line.
        app = ChatApp(options(server.port, "laptop", "#second", "#lobby"))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app, "#lobby")
            await joined(pilot, app, "#second")
            await pilot.press(*f"/msg NickServ IDENTIFY alice {PASSWORD}", "enter")
            await wait(
                pilot,
                lambda: (
                    "logged in" in static_text(app, "#rooms")
                    or any("logged in" in ln.text for ln in app.state.buffers["*"].lines)
                ),
                "the login",
            )
            await pilot.press("alt+2")  # back to #second (the NickServ window opened)
            assert app.state.active == "#second"

            # Reading #lobby on the laptop moves the phone's marker.
            await bob.say("#lobby", "one")
            one = await phone.first(privmsg("one"))
            await wait(pilot, lambda: app.state.buffers["#lobby"].unread == 1, "unread 1")
            await pilot.press("alt+3")
            assert app.state.active == "#lobby"
            marker = await phone.first(lambda x: x.command == "MARKREAD", what="MARKREAD")
            assert marker.params == ["#lobby", f"timestamp={one.tags['time']}"]

            # Reading it on the phone clears the laptop's unread count.
            await pilot.press("alt+2")
            await bob.say("#lobby", "two", "laptop: three")
            three = await phone.first(privmsg("laptop: three"))
            await wait(pilot, lambda: app.state.buffers["#lobby"].unread == 2, "unread 2")
            assert "#lobby @1 2" in static_text(app, "#rooms")
            await phone.send(f"MARKREAD #lobby timestamp={three.tags['time']}")
            await wait(pilot, lambda: app.state.buffers["#lobby"].unread == 0, "read elsewhere")
            assert app.state.buffers["#lobby"].mentions == 0
            assert "#lobby @" not in static_text(app, "#rooms")
            assert "#lobby 2" not in static_text(app, "#rooms")
    finally:
        await phone.close()
        await bob.close()


async def test_after_login_what_the_account_has_not_read_counts_as_unread(
    server: ThreadedServer,
) -> None:
    phone = await AsyncIrcClient.connect(server.address)
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await phone.register("alice", CAPS)
        await phone.send(f"REGISTER * * {PASSWORD}")
        await phone.first(lambda x: x.command == "900", what="the account")
        await phone.join("#lobby")
        await bob.register("bob")
        await bob.join("#lobby")
        said = ("read on the phone", "not read", "laptop: nor this")
        await bob.say("#lobby", *said)
        stamps = [
            parse_server_time((await phone.first(privmsg(text))).tags["time"]) for text in said
        ]
        # The phone read up to just before "not read". (Markers are times, and lines said at
        # once may share a millisecond: what counts as unread is what is stamped after it.)
        marker = (stamps[1] or 0) - 1
        expected = sum(1 for stamp in stamps if stamp is not None and stamp > marker)
        await phone.send(f"MARKREAD #lobby timestamp={format_server_time(marker)}")
        await phone.first(lambda x: x.command == "MARKREAD", what="the marker stored")

        app = ChatApp(options(server.port, "laptop", "#second", "#lobby"))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app, "#lobby")
            await joined(pilot, app, "#second")
            lobby = app.state.buffers["#lobby"]
            await wait(pilot, lambda: len(lobby.lines) > 3, "the join history")
            assert lobby.unread == 0  # history alone is not unread: nothing says it was not read
            await pilot.press(*f"/msg NickServ IDENTIFY alice {PASSWORD}", "enter")
            await wait(
                pilot, lambda: (lobby.unread, lobby.mentions) == (expected, 1), "unread by marker"
            )
            assert expected >= 2
            assert f"#lobby @1 {expected}" in static_text(app, "#rooms")
    finally:
        await phone.close()
        await bob.close()


async def test_edits_are_sent_and_shown_as_edited(server: ThreadedServer) -> None:
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await bob.register("bob", CAPS)
        await bob.join("#lobby")
        app = ChatApp(options(server.port))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            # bob edits his message: it changes in place, marked "(edited)".
            await bob.say("#lobby", "helo all")
            echoed = await bob.first(privmsg("helo all"))
            await wait(pilot, lambda: "<bob> helo all" in log_text(app), "bob's line")
            msgid = echoed.tags["msgid"]
            await bob.send(f"@draft/target-msgid={msgid};draft/edit-text=hello\\sall EDIT #lobby")
            await wait(pilot, lambda: "<bob> hello all (edited)" in log_text(app), "the edit")
            assert "helo all" not in log_text(app)

            # Up in the empty input recalls our last message; Enter sends the edit.
            await pilot.press(*"teh plan", "enter")
            await wait(pilot, lambda: app.state.last_own("#lobby") is not None, "our echo")
            box = app.query_one("#input", Input)
            await pilot.press("up")
            assert box.value == "/edit teh plan"
            await pilot.press(*["backspace"] * 8, *"the plan", "enter")
            edit = await bob.first(from_alice("EDIT"), what="alice's EDIT")
            assert edit.tags["draft/edit-text"] == "the plan"
            await wait(pilot, lambda: "<alice> the plan (edited)" in log_text(app), "own edit")
    finally:
        await bob.close()


async def test_multiline_messages_go_and_arrive_as_one(server: ThreadedServer) -> None:
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await bob.register("bob", CAPS)
        await bob.join("#lobby")
        app = ChatApp(options(server.port))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            await bob.send(
                "BATCH +p draft/multiline #lobby",
                "@batch=p PRIVMSG #lobby :def main():",
                "@batch=p PRIVMSG #lobby :    return 0",
                "BATCH -p",
            )
            await wait(pilot, lambda: "return 0" in log_text(app), "bob's paste")
            messages = [ln for ln in app.state.buffers["#lobby"].lines if ln.kind is Kind.MESSAGE]
            assert [ln.text for ln in messages] == ["def main():\n    return 0"]
            shown = log_text(app).splitlines()
            first = next(i for i, row in enumerate(shown) if "<bob> def main():" in row)
            assert shown[first + 1].strip() == "return 0"
            assert shown[first + 1].startswith(" " * 8)

            # Ctrl+J starts a new line in the input; Enter sends both as one message.
            await pilot.press(*"first", "ctrl+j", *"second", "enter")
            opening = await bob.first(from_alice("BATCH"), what="alice's batch")
            assert opening.params[1:] == ["draft/multiline", "#lobby"]
            lines = await bob.until(from_alice("BATCH"), what="the batch's end")
            assert [x.text for x in lines if x.command == "PRIVMSG"] == ["first", "second"]
            await wait(
                pilot,
                lambda: any(ln.text == "first\nsecond" for ln in app.state.buffers["#lobby"].lines),
                "our own multiline echo",
            )
            # A pasted text keeps its line breaks (shown as ↵ in the one-line input).
            box = app.query_one("#input", Input)
            box.post_message(Paste("pasted one\r\npasted two\n"))
            await wait(pilot, lambda: box.value, "the paste")
            assert box.value == f"pasted one{NEWLINE_MARK}pasted two"
    finally:
        await bob.close()


async def test_typing_is_shown_and_sent(server: ThreadedServer) -> None:
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await bob.register("bob", CAPS)
        await bob.join("#lobby")
        app = ChatApp(options(server.port))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            await bob.send("@+typing=active TAGMSG #lobby")
            await wait(pilot, lambda: "bob is typing…" in static_text(app, "#status"), "typing")
            await bob.say("#lobby", "there")
            await wait(pilot, lambda: "typing" not in static_text(app, "#status"), "done")

            await pilot.press(*"hel")
            notice = await bob.first(from_alice("TAGMSG"), what="alice typing")
            assert notice.tags["+typing"] == "active"
            await pilot.press(*["backspace"] * 3)
            notice = await bob.first(from_alice("TAGMSG"), what="alice done")
            assert notice.tags["+typing"] == "done"
    finally:
        await bob.close()


async def test_tab_completes_nicks_of_the_room(server: ThreadedServer) -> None:
    others = [await AsyncIrcClient.connect(server.address) for _ in range(3)]
    try:
        for client, nick in zip(others, ("bob", "bobby", "carol"), strict=True):
            await client.register(nick)
            await client.join("#lobby")
        app = ChatApp(options(server.port))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            await wait(pilot, lambda: len(app.state.buffers["#lobby"].members) == 4, "members")
            box = app.query_one("#input", Input)
            await pilot.press("b", "o", "tab")
            assert box.value == "bob: "
            await pilot.press("tab")
            assert box.value == "bobby: "
            await pilot.press(*"see ca", "tab")
            assert box.value == "bobby: see carol "
            assert app.focused is box  # Tab completed; it did not move the focus
    finally:
        for client in others:
            await client.close()


async def test_away_members_and_bots_are_marked(server: ThreadedServer) -> None:
    carol = await AsyncIrcClient.connect(server.address)
    helper = await AsyncIrcClient.connect(server.address)
    try:
        await carol.register("carol")
        await carol.join("#lobby")
        await carol.send("AWAY :lunch")
        await helper.register("helper")
        await helper.send("MODE helper +B")
        await helper.join("#lobby")
        app = ChatApp(options(server.port))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            members = app.state.buffers["#lobby"].members
            # From the WHO the client asks after joining (not shown as lines).
            await wait(pilot, lambda: "carol" in members and members["carol"].away, "away")
            await wait(pilot, lambda: "helper" in members and members["helper"].bot, "bot")
            assert "helper bot" in static_text(app, "#members")
            assert "End of WHO" not in log_text(app)
            # away-notify brings carol back.
            await carol.send("AWAY")
            await wait(pilot, lambda: not members["carol"].away, "carol back")
    finally:
        await carol.close()
        await helper.close()


async def test_without_the_new_capabilities_everything_degrades(server: ThreadedServer) -> None:
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await bob.register("bob", CAPS)
        await bob.join("#lobby")
        app = ChatApp(options(server.port, caps=OLD_SERVER_CAPS))
        async with app.run_test(size=SIZE) as pilot:
            await joined(pilot, app)
            assert not app.state.caps & {*MODERN_CAPS, "message-tags"}
            # A multiline message arrives as the server's fallback lines.
            await bob.send(
                "BATCH +p draft/multiline #lobby",
                "@batch=p PRIVMSG #lobby :line one",
                "@batch=p PRIVMSG #lobby :line two",
                "BATCH -p",
            )
            await wait(pilot, lambda: "<bob> line two" in log_text(app), "the fallback")
            assert "<bob> line one" in log_text(app)
            # Ours goes as separate lines, with no typing notice before it.
            await pilot.press(*"first", "ctrl+j", *"second", "enter")
            lines = await bob.until(privmsg("second"), what="alice's second line")
            assert [x.command for x in lines if x.nick == "alice" and x.command != "JOIN"] == [
                "PRIVMSG",
                "PRIVMSG",
            ]
            assert lines[-2].text == "first"
            # /edit says plainly that it cannot.
            await pilot.press(*"/edit fixed", "enter")
            await wait(
                pilot,
                lambda: "does not offer message editing" in log_text(app),
                "the refusal",
            )
            assert NEWLINE_MARK not in log_text(app)
    finally:
        await bob.close()
