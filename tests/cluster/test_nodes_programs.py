"""Two hubbub nodes through real IRC client programs: irssi on one node, WeeChat on the other;
and irc-framework, Kiwi IRC's IRC library, on another node than the history it is replayed.

Issue 14: "irssi on node A and WeeChat on node B join #lobby: they talk, see the same history
(join replay and CHATHISTORY), see each other in NAMES, WHO, WHOIS and LIST". Here with the
programs themselves (irssi in tmux, support.irssi; weechat-headless, support.weechat) on a real
redis-server bus and a real PostgreSQL; test_nodes_chat.py checks the same, and CHATHISTORY,
line by line with raw clients. WeeChat's LUSERS and WHOWAS on node B also know node A's users.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from node_helpers import client, running_nodes

from support.irc_framework import Event, IrcFramework, require_irc_framework
from support.irssi import Irssi
from support.postgres_server import fresh_postgres_url
from support.programs import diagnosed, received, require_programs
from support.redis_server import redis_server, redis_url
from support.waiting import wait_for
from support.weechat import WeeChat

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

pytestmark = pytest.mark.e2e

CHANNEL = "#lobby"
LUSERCLIENT = re.compile(r"There are (\d+) users and (\d+) invisible on 2 servers")


def test_irssi_on_one_node_and_weechat_on_another(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    require_programs("irssi", "tmux", "weechat-headless")
    token = uuid.uuid4().hex[:8]
    history = [f"said before anyone came {token}", f"and once more {token}"]
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "carol") as carol,
    ):
        irssi = Irssi(tmp_path, "irssiuser", a.port)
        weechat = WeeChat(tmp_path, "weeuser", b.port)
        try:
            views = (irssi.diagnostics, lambda: weechat.diagnostics(CHANNEL))
            with diagnosed(*views, received("carol", carol)):
                # carol, on node A, opens the room, gives it a topic and says two lines.
                carol.join(CHANNEL)
                carol.send(f"TOPIC {CHANNEL} :the topic {token}")
                carol.say(CHANNEL, *history)
                carol.fence()

                # irssi joins on node A and is shown the history.
                irssi.start()
                assert irssi.wait_screen(r"\[irssiuser(\(\+[a-zA-Z]*\))?\]"), "not registered"
                irssi.type_line(f"/join {CHANNEL}")
                carol.first(lambda x: x.command == "JOIN" and x.nick == "irssiuser")
                assert irssi.wait_screen(r"End of replay"), "irssi was shown no replay"

                # WeeChat joins on node B and is shown the same history, in the same order,
                # with the room's three members (NAMES).
                weechat.start(CHANNEL)
                weechat.wait_in(CHANNEL, r"Channel #lobby: 3 nicks \(1 op, 0 voices, 2 normals\)")
                weechat.wait_in(CHANNEL, r"End of replay")
                replayed = [x.text for x in weechat.shown_in(CHANNEL) if x.prefix == "@carol"]
                assert replayed == history
                screen = irssi.screen()
                assert screen.index(history[0]) < screen.index(history[1])
                assert weechat.shown_in(CHANNEL)[0].text.startswith("weeuser ")

                # Each sees the other arrive, and they talk across the nodes.
                assert irssi.wait_screen(r"weeuser .*has joined #lobby"), "no JOIN on irssi"
                irssi.type_line(f"from irssi on A {token}")
                weechat.wait_in(CHANNEL, rf"^irssiuser\tfrom irssi on A {token}$")
                weechat.say(CHANNEL, f"from weechat on B {token}")
                assert irssi.wait_screen(rf"weeuser> from weechat on B {token}"), "not shown"

                # WHO, WHOIS and LIST on node B see the user of node A and the room's topic.
                weechat.command(f"/who {CHANNEL}")
                weechat.wait_server(r"End of /WHO list")
                who = [x.text for x in weechat.server_lines() if x.text.startswith("[#lobby]")]
                assert any(re.match(r"\[#lobby\] irssiuser \(~?irssiuser@", x) for x in who), who
                weechat.command("/whois irssiuser")
                weechat.wait_server(r"\[irssiuser\] End of /WHOIS list")
                lines = [x.text for x in weechat.server_lines()]
                assert "[irssiuser] #lobby" in lines, lines
                weechat.command("/list")
                weechat.wait_server(rf"#lobby\(3\): the topic {token}")

                # LUSERS on node B counts node A's users too (each node counts its own every
                # heartbeat): carol and irssiuser there, weeuser here, on two servers.
                def counted() -> bool:
                    weechat.command("/lusers")
                    return any(
                        (found := LUSERCLIENT.search(x.text)) and int(found[1]) + int(found[2]) == 3
                        for x in weechat.server_lines()
                    )

                wait_for(counted, what="LUSERS on node B counting node A's users", interval=0.5)

                # irssi quits on node A: WeeChat on node B is shown it leave, with its reason,
                # and WHOWAS there knows who had the nick.
                irssi.type_line("/quit e2e done")
                weechat.wait_in(CHANNEL, r"irssiuser .*has quit \(Quit: e2e done\)")
                assert irssi.wait_exited() == 0

                def remembered() -> bool:
                    weechat.command("/whowas irssiuser")
                    was = "[irssiuser] (~irssiuser@127.0.0.1) was hubbub e2e irssi"
                    return any(x.text == was for x in weechat.server_lines())

                wait_for(remembered, what="WHOWAS irssiuser on node B", interval=0.5)
        finally:
            irssi.stop()
            weechat.stop()


def test_irc_framework_on_another_node_than_the_history(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """irc-framework (Kiwi IRC's IRC library, support.irc_framework) on node 1 of a network
    whose nodes each have a server name: the lines carol said on node 0 come in its join
    replay batch with their own times and msgids, it talks with carol across the nodes, and
    WHOIS tells it carol's server (RPL_WHOISSERVER: "which server the client with the nickname
    <nick> is connected to")."""
    require_irc_framework()
    token = uuid.uuid4().hex[:8]
    history = [f"said on node 0 {token}", f"and again {token}"]
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, named=True) as (a, b),
        client(a, "carol", ("message-tags",)) as carol,
    ):
        kiwi = IrcFramework(b.address, "kiwi")
        try:
            with diagnosed(kiwi.diagnostics, received("carol", carol)):
                carol.join(CHANNEL)
                carol.say(CHANNEL, *history)
                carol.fence()
                kiwi.send(do="join", channel=CHANNEL)
                joined = kiwi.until(lambda e: e["type"] == "batch end", "the replay batch")
                replayed = [e for e in joined if e["type"] == "privmsg"]
                assert [(e["nick"], e["message"]) for e in replayed] == [
                    ("carol", text) for text in history
                ]
                assert all(e["batch"]["type"] == "chathistory" and e["msgid"] for e in replayed)

                kiwi.send(do="say", target=CHANNEL, text=f"hello from node 1 {token}")
                line = carol.first(lambda x: x.command == "PRIVMSG" and x.nick == "kiwi")
                assert line.params == [CHANNEL, f"hello from node 1 {token}"]
                carol.say(CHANNEL, f"answer from node 0 {token}")
                live = kiwi.first(
                    lambda e: e["type"] == "privmsg" and e["message"].startswith("answer"),
                    "carol's answer",
                )
                assert live["batch"] is None and live["time"]

                # (Node 0's description is known on node 1 from its census, every heartbeat.)
                def whois() -> Event | None:
                    kiwi.send(do="whois", nick="carol")
                    found = kiwi.first(lambda e: e["type"] == "whois", "WHOIS carol")
                    return found if found["server_info"] else None

                found = wait_for(whois, what="carol's server described")
                assert (found["server"], found["server_info"]) == ("node0.example", "node 0")
                assert found["channels"] == f"@{CHANNEL}"
        finally:
            kiwi.stop()
