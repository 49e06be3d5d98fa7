"""IRCv3 draft/multiline against a real server: https://ircv3.net/specs/extensions/multiline

A batch is delivered, stored and replayed as one message; clients without the capability get
its lines.
"""

from __future__ import annotations

from pathlib import Path

from conformance_helpers import Network, ask, network

from support.irc_client import IrcClient, Line

ML = ("draft/multiline", "batch", "message-tags", "server-time", "echo-message", "labeled-response")
PLAIN = ("message-tags", "server-time")
HISTORY = ("draft/chathistory", "batch", "message-tags", "server-time")


def send_batch(client: IrcClient, target: str, *lines: str, ref: str = "m1") -> None:
    """`lines` as a batch; a line starting with '+' is sent with draft/multiline-concat."""
    client.send(f"BATCH +{ref} draft/multiline {target}")
    for line in lines:
        concat = line.startswith("+")
        tags = f"@batch={ref};draft/multiline-concat" if concat else f"@batch={ref}"
        client.send(f"{tags} PRIVMSG {target} :{line[1:] if concat else line}")
    client.send(f"BATCH -{ref}")


def end_of(kind: str) -> object:
    return lambda x: x.command == "BATCH" and x.params[0].startswith("-")


def privmsgs(lines: list[Line]) -> list[str]:
    return [x.text for x in lines if x.command == "PRIVMSG"]


def test_capability_advertises_limits(net: Network) -> None:
    """ "The capability MUST be advertised by servers with a REQUIRED value" ... "`max-bytes`
    ... *REQUIRED*", "`max-lines` ... *RECOMMENDED*"."""
    client = net.raw()
    client.send("CAP LS 302")
    lines = client.until(lambda x: x.command == "CAP" and x.params[2] != "*")
    caps = " ".join(x.params[-1] for x in lines).split()
    assert "draft/multiline=max-bytes=4096,max-lines=32" in caps


def test_batch_is_relayed_as_a_batch_and_as_lines_to_others(net: Network) -> None:
    """ "When delivering multiline batches to clients that have not negotiated the multiline
    capability, servers MUST deliver the component messages without using a multiline BATCH.",
    "Servers MUST NOT send blank lines to clients that have not negotiated the multiline
    capability." and "Servers MUST only include a message ID on the first message of a batch
    when sending a fallback to non-supporting clients."
    """
    alice, bob, carol = net.user("alice", ML), net.user("bob", ML), net.user("carol", PLAIN)
    for client in (alice, bob, carol):
        client.join("#room")
    ask(alice, "PING :settle")
    send_batch(alice, "#room", "hello", "", "how is ", "+everyone?")
    got = bob.until(lambda x: x.command == "BATCH" and x.params[0].startswith("-"))
    got = got[next(i for i, x in enumerate(got) if x.command == "BATCH") :]
    opening = got[0]
    assert opening.params[1:] == ["draft/multiline", "#room"] and "msgid" in opening.tags
    inner = got[1:-1]
    assert [x.text for x in inner] == ["hello", "", "how is ", "everyone?"]
    assert ["draft/multiline-concat" in x.tags for x in inner] == [False, False, False, True]
    assert all(x.tags["batch"] == opening.params[0][1:] for x in inner)
    fallback = carol.until(lambda x: x.command == "PRIVMSG" and x.text == "everyone?")
    fallback = [x for x in fallback if x.command == "PRIVMSG"]
    assert [x.text for x in fallback] == ["hello", "how is ", "everyone?"]
    assert ["msgid" in x.tags for x in fallback] == [True, False, False]
    assert fallback[0].tags["msgid"] == opening.tags["msgid"]


def test_echo_carries_the_label_on_the_opening_batch(net: Network) -> None:
    """ "Servers MUST only include the label tag on the opening BATCH command when replying to a
    client using `echo-message`."
    """
    alice = net.user("alice", ML)
    alice.join("#room")
    alice.send("@label=L1 BATCH +x draft/multiline #room")
    alice.send("@batch=x PRIVMSG #room :one", "@batch=x PRIVMSG #room :two", "BATCH -x")
    echo = alice.until(lambda x: x.command == "BATCH" and x.params[0].startswith("-"))
    assert echo[0].tags.get("label") == "L1" and echo[0].params[1] == "draft/multiline"
    assert [x for x in echo[1:] if "label" in x.tags] == []
    assert privmsgs(echo) == ["one", "two"]


def test_limits_and_invalid_batches(tmp_path: Path) -> None:
    """ "`MULTILINE_MAX_BYTES <limit>`: `max-bytes` limit exceeded", "`MULTILINE_MAX_LINES
    <limit>`: `max-lines` limit exceeded", "`MULTILINE_INVALID_TARGET <batch-target>
    <provided-target>`: mismatched PRIVMSG target within a batch" (Errors)."""
    limits = {"multiline_max_lines": 3, "multiline_max_bytes": 600}
    with network(tmp_path, limits=limits) as net:
        alice, bob = net.user("alice", ML), net.user("bob", PLAIN)
        alice.join("#room")
        bob.join("#room")
        ask(alice, "PING :settle")
        send_batch(alice, "#room", "a", "b", "c", "d", ref="l")
        send_batch(alice, "#room", "x" * 400, "y" * 300, ref="b")
        alice.send("BATCH +t draft/multiline #room", "@batch=t PRIVMSG #other :hi", "BATCH -t")
        fails = [x.params[1:3] for x in ask(alice) if x.command == "FAIL"]
        assert fails == [
            ["MULTILINE_MAX_LINES", "3"],
            ["MULTILINE_MAX_BYTES", "600"],
            ["MULTILINE_INVALID_TARGET", "#room"],
        ]
        assert privmsgs(ask(bob)) == []  # nothing of a refused batch is relayed


def test_stored_as_one_and_replayed_as_one(tmp_path: Path) -> None:
    """ "The combined message value of a multiline batch is defined as the concatenation of the
    messages from each individual line within the batch." hubbub stores that one message and
    replays it (CHATHISTORY, after a restart too) as one batch, or as lines without the cap."""
    with network(tmp_path) as net:
        alice = net.account("alice", ML)
        alice.join("#room")
        # Registered, so that the room after the restart is the same room (hubbub.core.privacy).
        alice.send("PRIVMSG ChanServ :REGISTER #room")
        alice.until(lambda x: x.command == "NOTICE" and "registered" in x.text)
        send_batch(alice, "#room", "first", "second ", "+half")
        alice.until(lambda x: x.command == "BATCH" and x.params[0].startswith("-"))
    with network(tmp_path) as net:
        reader = net.user("reader", (*HISTORY, "draft/multiline"))
        reader.join("#room")
        lines = ask(reader, "CHATHISTORY LATEST #room * 10")
        kinds = [
            (x.command, x.params[1] if x.command == "BATCH" and len(x.params) > 1 else "")
            for x in lines
        ]
        assert [k for k in kinds if k[0] == "BATCH"] == [
            ("BATCH", "chathistory"),
            ("BATCH", "draft/multiline"),
            ("BATCH", ""),
            ("BATCH", ""),
        ]
        texts = privmsgs(lines)
        assert texts == ["first", "second half"]  # the layout is re-split, the text is kept
        old = net.user("old", HISTORY)
        old.join("#room")
        lines = [x for x in ask(old, "CHATHISTORY LATEST #room * 10") if x.command == "PRIVMSG"]
        assert [x.text for x in lines] == ["first", "second half"]
        assert ["msgid" in x.tags for x in lines] == [True, False]
