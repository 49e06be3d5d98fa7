"""IRCv3 metadata (`draft/metadata-2`) against a real server:
https://ircv3.net/specs/extensions/metadata

Values of logged-in users are kept in the account store, those of registered channels in the
registry: both survive a restart. A guest's go with its connection.
"""

from __future__ import annotations

from pathlib import Path

from conformance_helpers import PASSWORD, Network, ask, network

from support.irc_client import IrcClient, Line

CAPS = ("draft/metadata-2", "batch", "message-tags")


def codes(lines: list[Line]) -> list[str]:
    return [x.command if x.command != "FAIL" else "FAIL " + x.params[1] for x in lines]


def keyvalues(lines: list[Line]) -> list[list[str]]:
    return [x.params[1:] for x in lines if x.command == "761"]


def metadata(lines: list[Line]) -> list[list[str]]:
    return [x.params for x in lines if x.command == "METADATA"]


def identify(client: IrcClient, nick: str) -> None:
    client.send(f"PRIVMSG NickServ :IDENTIFY {nick} {PASSWORD}")
    client.expect("900")


def test_capability_advertises_limits(net: Network) -> None:
    """ "`max-subs`: the maximum number of keys a client is allowed in its subscription list"
    and "`max-keys`: the maximum number of keys a client is allowed to set on its own nickname"
    (capability value tokens; hubbub adds `before-connect` and `max-value-bytes`)."""
    client = net.raw()
    client.send("CAP LS 302")
    lines = client.until(lambda x: x.command == "CAP" and x.params[2] != "*")
    caps = " ".join(x.params[-1] for x in lines).split()
    value = next(c for c in caps if c.startswith("draft/metadata-2=")).split("=", 1)[1]
    assert value.split(",") == [
        "before-connect",
        "max-subs=100",
        "max-keys=20",
        "max-value-bytes=300",
    ]


def test_set_get_list_and_remove_on_self(net: Network) -> None:
    """ "If the request is successful, the server carries out the requested change and responds
    with one `RPL_KEYVALUE` event, representing the new value (or lack of one)."; GET answers
    "`RPL_KEYVALUE` ... `ERR_NOMATCHINGKEY` for every key in order" in a `metadata` batch."""
    alice = net.user("alice", CAPS)
    assert keyvalues(ask(alice, "METADATA * SET avatar :https://example.org/a.png")) == [
        ["alice", "avatar", "*", "https://example.org/a.png"]
    ]
    got = ask(alice, "METADATA alice GET avatar status")
    assert codes(got) == ["BATCH", "761", "766", "BATCH"]
    assert got[0].params[1] == "metadata"
    ask(alice, "METADATA * SET pronouns :she/her")
    assert keyvalues(ask(alice, "METADATA * LIST")) == [
        ["alice", "avatar", "*", "https://example.org/a.png"],
        ["alice", "pronouns", "*", "she/her"],
    ]
    assert keyvalues(ask(alice, "METADATA * SET pronouns")) == [["alice", "pronouns", "*"]]
    assert codes(ask(alice, "METADATA * SET pronouns")) == ["768"]  # ERR_KEYNOTSET


def test_refusals(net: Network) -> None:
    """ "If the key is invalid, the server responds with `FAIL METADATA INVALID_KEY`", "If the
    user cannot set keys on the given target, the server responds with `FAIL METADATA
    KEY_NO_PERMISSION`", "If the target is not valid, ONLY a `FAIL METADATA INVALID_TARGET`
    reply is sent.", and LIMIT_REACHED for too many keys (SET failures)."""
    alice = net.user("alice", CAPS)
    net.user("bob", CAPS)
    lines = ask(
        alice,
        "METADATA * SET $bad :x",
        "METADATA bob SET avatar :x",
        "METADATA * SET favourite-food :x",
        "METADATA nobody LIST",
        "METADATA * DESTROY",
        "METADATA * SET status :" + "x" * 301,
    )
    assert codes(lines) == [
        "FAIL INVALID_KEY",
        "FAIL KEY_NO_PERMISSION",
        "FAIL KEY_NO_PERMISSION",
        "FAIL INVALID_TARGET",
        "FAIL INVALID_SUBCOMMAND",
        "FAIL VALUE_INVALID",
    ]


def test_limit_and_rate_limit(tmp_path: Path) -> None:
    """ "Servers MAY respond with `FAIL METADATA RATE_LIMITED` and fail the request. ... the
    parameter value MUST be a positive integer indicating the minimum number of seconds"
    """
    limits = {"metadata_max_keys": 1, "metadata_set_burst": 2, "metadata_set_seconds": 60.0}
    with network(tmp_path, limits=limits) as net:
        alice = net.user("alice", CAPS)
        lines = ask(
            alice,
            "METADATA * SET avatar :a",
            "METADATA * SET status :b",  # a second key: over max-keys
            "METADATA * SET avatar :c",
            "METADATA * SET avatar :d",  # the bucket is empty
        )
        assert codes(lines) == ["761", "FAIL LIMIT_REACHED", "761", "FAIL RATE_LIMITED"]
        assert int(lines[-1].params[4]) >= 1


def test_subscriptions(net: Network) -> None:
    """ "If the client successfully subscribes to a key, or is already subscribed to a requested
    key, that key MUST appear in a `RPL_METADATASUBOK` reply numeric." / "The server MUST NOT
    list the same key multiple times in a response to this subcommand." (SUB, SUBS, UNSUB)."""
    alice = net.user("alice", CAPS)
    lines = ask(alice, "METADATA * SUB avatar status $x avatar")
    assert [x.command for x in lines] == ["FAIL", "770"]
    assert lines[1].text.split() == ["avatar", "status", "avatar"]
    assert ask(alice, "METADATA * SUBS")[0].text.split() == ["avatar", "status"]
    assert ask(alice, "METADATA * UNSUB status")[0].command == "771"
    assert ask(alice, "METADATA * SUBS")[0].text.split() == ["avatar"]


def test_updates_reach_subscribed_channel_members(net: Network) -> None:
    """ "When a user's metadata is updated, all users sharing a channel with that user ... will
    receive a `METADATA` message" — for keys they subscribed to; "On joining a channel, users
    will get the channel's current metadata ... and get the same information for all users who
    are in the channel."
    """
    alice = net.user("alice", CAPS)
    bob = net.user("bob", CAPS)
    carol = net.user("carol", CAPS)  # subscribed to nothing
    ask(alice, "METADATA * SUB avatar")
    ask(bob, "METADATA * SUB avatar")
    alice.join("#room")
    ask(alice, "METADATA #room SET color :teal")  # alice is op
    ask(alice, "METADATA * SET avatar :https://a/1.png", "METADATA * SET status :busy")
    bob.send("JOIN #room")
    joined = bob.until(lambda x: x.command == "BATCH" and x.params[0].startswith("-"))
    assert metadata(joined) == [["alice", "avatar", "*", "https://a/1.png"]]
    carol.join("#room")
    ask(bob, "METADATA * SET avatar :https://b/2.png")
    assert metadata(alice.until(lambda x: x.command == "METADATA")) == [
        ["bob", "avatar", "*", "https://b/2.png"]
    ]
    assert metadata(ask(carol, "PING :x")) == []
    assert keyvalues(ask(bob, "METADATA #room GET color")) == [["#room", "color", "*", "teal"]]


def test_before_connect_and_own_batch_at_welcome(net: Network) -> None:
    """ "Upon requesting the `metadata` capability, clients receive their non-transient metadata
    ... in a `metadata` batch with their own nick as target. If none exists, the server MUST send
    an empty batch instead."; hubbub's `before-connect` token: METADATA on `*` before the
    welcome."""
    client = net.raw()
    client.send("CAP LS 302", "CAP REQ :draft/metadata-2 batch", "METADATA * SET status :early")
    client.send("NICK early", "USER early 0 * :Early", "CAP END")
    lines = client.until(lambda x: x.command == "376")
    assert ["*", "status", "*", "early"] in keyvalues(lines)
    batch = [x for x in lines if x.command == "METADATA"]
    assert [x.params for x in batch] == [["early", "status", "*", "early"]]
    plain = net.raw()
    opened = [x for x in plain.register("plain", CAPS) if x.command == "BATCH"]
    assert [x.params[0][0] for x in opened] == ["+", "-"]


def test_account_and_registered_channel_metadata_survive_a_restart(tmp_path: Path) -> None:
    """Kept for accounts and registered channels (hubbub): GET after a restart returns them,
    a channel's keys set before it was registered too."""
    with network(tmp_path) as net:
        alice = net.account("alice", CAPS)
        alice.join("#keep")
        ask(alice, "METADATA #keep SET color :red")
        alice.send("PRIVMSG ChanServ :REGISTER #keep")
        alice.until(lambda x: x.command == "NOTICE" and "registered" in x.text)
        ask(alice, "METADATA * SET display-name :Alice A.", "METADATA #keep SET avatar :k.png")
        guest = net.user("guest", CAPS)
        guest.join("#loose")
        ask(guest, "METADATA #loose SET avatar :l.png")
    with network(tmp_path) as net:
        alice = net.user("alice", CAPS)
        identify(alice, "alice")
        assert keyvalues(ask(alice, "METADATA * LIST")) == [
            ["alice", "display-name", "*", "Alice A."]
        ]
        bob = net.user("bob", CAPS)
        assert keyvalues(ask(bob, "METADATA #keep LIST")) == [
            ["#keep", "avatar", "*", "k.png"],
            ["#keep", "color", "*", "red"],
        ]
        assert codes(ask(bob, "METADATA #loose LIST")) == ["FAIL INVALID_TARGET"]
