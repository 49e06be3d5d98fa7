"""Draw docs/img/chat.svg: the full-screen client in a realistic conversation.

    PYTHONPATH=tests .venv/bin/python tests/client/make_screenshot.py [OUTPUT.svg]

(`tests` on the path: the shared test toolkit is imported as `support.…`.)

Starts a real hubbub server (in memory) in a thread, lets a few raw clients talk in #lobby and
#dev (one edits a message, one pastes several lines, a bot reports, one is away, one is typing),
then runs `hubbub chat` headless as alice, with a line half typed, and saves the screen.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from hubbub.client.model import Kind
from hubbub.client.options import ChatOptions
from hubbub.client.ui import ChatApp
from support.config import server_config
from support.irc_client import AsyncIrcClient
from support.servers import ThreadedServer
from support.waiting import until

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "img" / "chat.svg"


async def scene(port: int, output: Path) -> None:
    bob, carol, dave, ci = [await AsyncIrcClient.connect(("127.0.0.1", port)) for _ in range(4)]
    modern = ["message-tags", "batch", "echo-message", "draft/multiline", "draft/message-edit"]
    await bob.register("bob", modern)
    await carol.register("carol", modern)
    await dave.register("dave", ["away-notify"])
    await ci.register("ci")
    await ci.send("MODE ci +B")
    for client in (bob, carol, dave, ci):
        await client.join("#lobby")
    await bob.join("#dev")
    await bob.send("TOPIC #lobby :Release 0.2 is cut · benchmarks on Friday · be kind")
    await bob.send("MODE #lobby +v carol")
    said = [
        (bob, "morning all, the release branch is cut"),
        (carol, "nice! did the sqlite history store make it in?"),
        (bob, "it did, and replay on join is a lot faster now"),
        (dave, "I'll run the fan-out benchmarks after lunch"),
    ]
    for speaker, text in said:  # one at a time, so the room's order is the script's
        await speaker.say("#lobby", text)
        listener = carol if speaker is not carol else bob
        await listener.first(lambda x, text=text: x.command == "PRIVMSG" and x.text == text)

    app = ChatApp(ChatOptions(port=port, nick="alice", rooms=("#lobby", "#dev")))
    async with app.run_test(size=(112, 30)) as pilot:

        async def pause() -> None:
            await pilot.pause(0.05)

        await until(lambda: app.state.buffers["#lobby"].joined, what="join", pause=pause)
        await until(lambda: app.state.buffers["#dev"].joined, what="join #dev", pause=pause)
        await app.run_action("window(2)")
        await until(
            lambda: any(ln.history for ln in app.state.buffers["#lobby"].lines),
            what="history",
            pause=pause,
        )
        await carol.say("#lobby", "alice: welcome back, you missed the release chat")
        await bob.send("PRIVMSG #lobby :\x01ACTION hands alice a coffee\x01")
        await bob.say("#lobby", "the tag is v0.2.0-rc1")
        echo = await bob.first(lambda x: x.command == "PRIVMSG" and x.text.endswith("rc1"))
        msgid = echo.tags["msgid"]
        await bob.send(
            f"@draft/target-msgid={msgid};draft/edit-text=the\\stag\\sis\\sv0.2.0 EDIT #lobby"
        )
        await carol.send(
            "BATCH +p draft/multiline #lobby",
            "@batch=p PRIVMSG #lobby :release checklist:",
            "@batch=p PRIVMSG #lobby :  1. changelog",
            "@batch=p PRIVMSG #lobby :  2. announce on Friday",
            "BATCH -p",
        )
        await ci.say("#lobby", "build #412 passed on main")
        await bob.say("#dev", "alice, can you review the reconnect PR when you have a minute?")
        await dave.send("AWAY :lunch")

        def arrived() -> bool:
            lines = app.state.buffers["#lobby"].lines
            edited = any(ln.edited for ln in lines)
            return edited and sum(1 for ln in lines if ln.kind in (Kind.MESSAGE, Kind.ACTION)) >= 9

        await until(arrived, what="live lines", pause=pause)
        await until(lambda: app.state.buffers["#dev"].unread == 1, what="#dev unread", pause=pause)
        members = app.state.buffers["#lobby"].members
        await until(lambda: members["dave"].away and members["ci"].bot, what="marks", pause=pause)
        await carol.send("@+typing=active TAGMSG #lobby")
        await until(lambda: app.typing_text, what="carol typing", pause=pause)
        await pilot.press(*"thanks! reading the backlog now")
        await pilot.pause(0.3)
        output.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(output.name, str(output.parent))
        await app.connection.quit("bye")
    for client in (bob, carol, dave, ci):
        await client.close()


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    with (
        tempfile.TemporaryDirectory() as data,
        ThreadedServer(server_config(Path(data), history={"backend": "memory"})) as server,
    ):
        asyncio.run(scene(server.port, output))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
