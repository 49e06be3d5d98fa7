"""hubbub through a real IRC client: WeeChat (its headless build), told what to type through
its FIFO pipe and read from its logs (support.weechat).

A raw-socket client (alice) says two lines in #lobby. WeeChat then connects with its default
capabilities (server-time among them, but not batch), joins #lobby and must show those lines
replayed between the server's replay notices, each dated by its original `time` tag. What is
typed into WeeChat must reach alice, what alice says must be shown, and WeeChat's WHOIS, LIST,
TOPIC and /quit must work as a user expects.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.irc_client import IrcClient, Line
from support.programs import diagnosed, received, require_programs
from support.servers import ServerProcess
from support.weechat import Shown, WeeChat

pytestmark = pytest.mark.e2e

CHANNEL = "#lobby"
WEECHAT_NICK = "weeuser"


@pytest.fixture
def weechat(tmp_path: Path, server: ServerProcess) -> Iterator[WeeChat]:
    require_programs("weechat-headless")
    client = WeeChat(tmp_path, WEECHAT_NICK, server.port)
    try:
        yield client
    finally:
        client.stop()


def utc_stamps(*moments: float) -> set[str]:
    """The `YYYY-MM-DD HH:MM:SS` WeeChat (run in UTC) may date a line stored between these
    moments (a few seconds apart) with."""
    first, last = int(min(moments)), int(max(moments)) + 1
    return {time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s)) for s in range(first, last + 1)}


def test_weechat_sees_history_and_talks(
    server: ServerProcess, weechat: WeeChat, alice: IrcClient
) -> None:
    token = uuid.uuid4().hex[:8]
    history = [f"first line before weechat {token}", f"second line before weechat {token}"]

    with diagnosed(
        lambda: weechat.diagnostics(CHANNEL), received("alice", alice), server.diagnostics
    ):
        # The raw client talks first, so that there is history to replay.
        alice.register("alice")
        alice.join(CHANNEL)
        before = time.time()
        alice.say(CHANNEL, *history)
        alice.fence()  # the server has handled both lines once it answers the PING
        stamps = utc_stamps(before, time.time())

        weechat.start(CHANNEL)
        alice.first(from_weechat("JOIN"), what="WeeChat's JOIN")
        # NAMES: WeeChat counts the room's members and their ranks on join.
        weechat.wait_in(CHANNEL, r"Channel #lobby: 2 nicks \(1 op, 0 voices, 1 normal\)")

        # The replay: both lines, in order, between the notices, dated by their time tags
        # (as sent, not as received: WeeChat took server-time).
        weechat.wait_in(CHANNEL, r"End of replay")
        shown = weechat.shown_in(CHANNEL)
        start = index_of(shown, "Replaying 2 messages from before you joined")
        end = index_of(shown, "End of replay")
        positions = []
        for text in history:
            at = index_of(shown, text)
            line = shown[at]
            assert line.text == text, f"server-time client got the text prefix: {line}"
            assert line.prefix == "@alice", f"replayed line not shown as from alice: {line}"
            assert line.date in stamps, f"{line.date} is not one of {sorted(stamps)}"
            positions.append(at)
        assert start < positions[0] < positions[1] < end, (
            f"replay out of order: notice at {start}, lines at {positions}, end at {end}"
        )

        # Talking both ways.
        typed = f"hello from weechat {token}"
        weechat.say(CHANNEL, typed)
        assert alice.first(from_weechat("PRIVMSG"), what="WeeChat's PRIVMSG").params == [
            CHANNEL,
            typed,
        ]
        alice.say(CHANNEL, f"hello weechat {token}")
        weechat.wait_in(CHANNEL, rf"^@alice\thello weechat {token}$")

        # A topic set by the room's operator is shown with its setter.
        alice.send(f"TOPIC {CHANNEL} :the topic {token}")
        weechat.wait_in(CHANNEL, rf"alice has changed topic for #lobby to \"the topic {token}\"")

        # WHOIS names the room (with alice's rank), LIST counts its two members.
        weechat.command("/whois alice")
        weechat.wait_server(r"\[alice\] End of /WHOIS list")
        assert any(line.text == "[alice] @#lobby" for line in weechat.server_lines())
        weechat.command("/list")
        weechat.wait_server(r"End of /LIST")
        assert any(f"#lobby(2): the topic {token}" in x.text for x in weechat.server_lines())

        # /quit: alice sees WeeChat leave with its reason, and WeeChat exits cleanly.
        weechat.command("/quit e2e done")
        params = alice.first(from_weechat("QUIT"), what="WeeChat's QUIT").params
        assert params and "e2e done" in params[-1], f"unexpected QUIT reason: {params}"
        status = weechat.wait_exited()
        assert status == 0, f"WeeChat exit status {status} (None: still running)"


def from_weechat(command: str) -> Callable[[Line], bool]:
    return lambda x: x.command == command and x.nick.lower() == WEECHAT_NICK


def index_of(shown: list[Shown], text: str) -> int:
    found = [i for i, line in enumerate(shown) if text in line.text]
    assert len(found) == 1, f"{text!r} shown {len(found)} times, expected once"
    return found[0]
