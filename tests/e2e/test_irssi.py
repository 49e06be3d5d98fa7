"""hubbub through a real IRC client: irssi, run in a detached tmux session and driven by keys.

A raw-socket client (alice) says two lines in #lobby. irssi then connects, joins #lobby and
must show those lines replayed between the server's replay notices. irssi negotiates
server-time (but not batch), so each replayed line carries its original `time` tag, which
irssi shows in its own time column; the server's `[HH:MM]` text prefix (for clients without
server-time) must not appear. What is typed into irssi must reach alice as a PRIVMSG, and
irssi's /quit as a QUIT.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.irc_client import IrcClient, Line
from support.irssi import Irssi
from support.programs import WAIT, diagnosed, received, require_programs
from support.servers import ServerProcess

pytestmark = pytest.mark.e2e

CHANNEL = "#lobby"
IRSSI_NICK = "irssiuser"


@pytest.fixture
def irssi(tmp_path: Path, server: ServerProcess) -> Iterator[Irssi]:
    require_programs("irssi", "tmux")
    client = Irssi(tmp_path, IRSSI_NICK, server.port)
    try:
        yield client
    finally:
        client.stop()


def minute_stamps(*moments: float) -> set[str]:
    """The `HH:MM` irssi may show (in its local time) for a message stored between these
    moments (seconds apart)."""
    return {time.strftime("%H:%M", time.localtime(moment)) for moment in moments}


def test_irssi_sees_history_and_talks(
    server: ServerProcess, irssi: Irssi, alice: IrcClient
) -> None:
    token = uuid.uuid4().hex[:8]
    history = [f"first line before irssi {token}", f"second line before irssi {token}"]
    typed = f"hello from irssi {token}"

    with diagnosed(irssi.diagnostics, received("alice", alice), server.diagnostics):
        # The raw client talks first, so that there is history to replay.
        alice.register("alice")
        alice.join(CHANNEL)
        before = time.time()
        alice.say(CHANNEL, *history)
        alice.fence()  # the server has handled both lines once it answers the PING
        stamps = minute_stamps(before, time.time())

        irssi.start(width=200, height=50)
        # Registered: irssi's status bar shows the nick (with its user modes) only then.
        registered = irssi.wait_screen(rf"\[{IRSSI_NICK}(\(\+[a-zA-Z]*\))?\]")
        assert registered, f"irssi did not register within {WAIT:.0f} s"
        # irssi asks on screen about config keys it does not know, and would eat our keys.
        assert "Unknown settings" not in irssi.screen(), "irssi rejected part of its config"

        irssi.type_line(f"/join {CHANNEL}")
        alice.first(from_irssi("JOIN"), what="irssi's JOIN")

        # The replay: both lines, in order, between the notices, timed by their time tags.
        last = re.escape(history[-1])
        assert irssi.wait_screen(r"End of replay") and irssi.wait_screen(last), (
            f"irssi did not show the replayed history within {WAIT:.0f} s"
        )
        screen = irssi.screen()
        lines = screen.splitlines()
        start = index_of(lines, "Replaying 2 messages from before you joined")
        end = index_of(lines, "End of replay")
        positions = []
        for text in history:
            found = [i for i, line in enumerate(lines) if text in line]
            assert len(found) == 1, f"{text!r} shown {len(found)} times, expected once"
            line = lines[found[0]]
            prefixed = re.search(r"\[\d\d:\d\d\] " + re.escape(text), line)
            assert not prefixed, f"server-time client got the text prefix: {line!r}"
            shown = re.match(r"\s*(\d\d:\d\d)", line)
            assert shown, f"no time column before {text!r} in {line!r}"
            assert shown.group(1) in stamps, f"{shown.group(1)} is not one of {sorted(stamps)}"
            assert "alice" in line, f"replayed line not shown as from alice: {line!r}"
            positions.append(found[0])
        assert start < positions[0] < positions[1] < end, (
            f"replay out of order: notice at {start}, lines at {positions}, end at {end}"
        )

        # Typing a line in irssi sends it to the room.
        irssi.type_line(typed)
        params = alice.first(from_irssi("PRIVMSG"), what="irssi's PRIVMSG").params
        assert params == [CHANNEL, typed]

        # /quit: alice sees irssi leave, and irssi exits cleanly.
        irssi.type_line("/quit e2e done")
        params = alice.first(from_irssi("QUIT"), what="irssi's QUIT").params
        assert params and "e2e done" in params[-1], f"unexpected QUIT reason: {params}"
        status = irssi.wait_exited()
        assert status is not None, f"irssi did not exit within {WAIT:.0f} s of /quit"
        assert status == 0, f"irssi exited with status {status}"

        # The server is still up for everyone else.
        alice.send(f"PING :{token}-after")
        pong = alice.first(lambda x: f"{token}-after" in x.raw, what="the PONG after irssi quit")
        assert pong.command == "PONG", pong.raw


def from_irssi(command: str) -> Callable[[Line], bool]:
    return lambda x: x.command == command and x.nick.lower() == IRSSI_NICK


def index_of(lines: list[str], text: str) -> int:
    found = [i for i, line in enumerate(lines) if text in line]
    assert len(found) == 1, f"{text!r} shown {len(found)} times on screen, expected once"
    return found[0]
