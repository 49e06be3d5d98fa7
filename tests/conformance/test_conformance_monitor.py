"""MONITOR (https://ircv3.net/specs/extensions/monitor) and extended-monitor
(https://ircv3.net/specs/extensions/extended-monitor), against a real server."""

from __future__ import annotations

from pathlib import Path

from conformance_helpers import Network, ask, isupport, network, numerics


def test_monitor_token_carries_the_limit(tmp_path: Path) -> None:
    """monitor: "Support of this specification is indicated by the MONITOR token in
    RPL_ISUPPORT (005). This token takes an optional parameter, of the maximum amount of
    targets a client may have in their monitor list.\""""
    with network(tmp_path, limits={"monitor_entries": 7}) as net:
        lines = net.raw().register("alice")
        assert isupport(lines)["MONITOR"] == "7"


def test_adding_targets_reports_their_state(net: Network) -> None:
    """monitor: "If any of the targets being added are online, the server will generate
    RPL_MONONLINE numerics listing those targets that are online." and likewise
    RPL_MONOFFLINE for those offline; "The server MAY send a hostmask with the target.\""""
    alice = net.user("alice")
    net.user("bob")
    got = ask(alice, "MONITOR + bob,carol")
    online = numerics(got, "730")
    offline = numerics(got, "731")
    assert [line.text.split("!")[0] for line in online] == ["bob"]
    assert online[0].text.startswith("bob!~bob@")
    assert [line.text for line in offline] == ["carol"]


def test_online_offline_and_nick_changes_are_pushed(net: Network) -> None:
    """monitor: RPL_MONONLINE "is used to indicate to a client that either a target has just
    become online" and RPL_MONOFFLINE "that a target has just left the irc network"."""
    alice = net.user("alice")
    ask(alice, "MONITOR + bob,robert")
    bob = net.user("bob")
    line = alice.first(lambda x: x.command == "730")
    assert line.text.startswith("bob!")
    assert line.params[0] == "*"  # "The server may send "*" instead of the nick"
    ask(bob, "NICK robert")
    assert alice.first(lambda x: x.command == "731").text == "bob"
    assert alice.first(lambda x: x.command == "730").text.startswith("robert!")
    bob.send("QUIT :bye")
    assert alice.first(lambda x: x.command == "731").text == "robert"


def test_remove_clear_list_and_status(net: Network) -> None:
    """monitor: "MONITOR - ... No output will be returned", "MONITOR C Clears the list",
    "MONITOR L ... All output will use RPL_MONLIST, and the output will be terminated with
    RPL_ENDOFMONLIST" and "MONITOR S Outputs for each target in the list being monitored,
    whether the client is online or offline.\""""
    alice = net.user("alice")
    net.user("bob")
    ask(alice, "MONITOR + bob,carol,dave")
    assert ask(alice, "MONITOR - dave") == []
    got = ask(alice, "MONITOR L")
    assert [line.command for line in got] == ["732", "733"]
    assert sorted(got[0].text.split(",")) == ["bob", "carol"]
    got = ask(alice, "MONITOR S")
    assert [line.command for line in got] == ["730", "731"]
    assert ask(alice, "MONITOR C") == []
    assert [line.command for line in ask(alice, "MONITOR L")] == ["733"]


def test_full_list_is_refused(tmp_path: Path) -> None:
    """monitor: ERR_MONLISTFULL ":<server> 734 <nick> <limit> <targets> :Monitor list is
    full." ... "the <targets> parameter is the list of targets, as the client sent them, that
    cannot be added.\""""
    with network(tmp_path, limits={"monitor_entries": 2}) as net:
        alice = net.user("alice")
        got = ask(alice, "MONITOR + a1,a2,a3")
        full = numerics(got, "734")
        assert [line.params[1:3] for line in full] == [["2", "a3"]]
        assert sorted(numerics(got, "731")[0].text.split(",")) == ["a1", "a2"]


def test_targets_are_not_added_twice(net: Network) -> None:
    """monitor: "Targets already in the list MUST NOT be added again.\""""
    alice = net.user("alice")
    ask(alice, "MONITOR + bob", "MONITOR + BOB")
    got = ask(alice, "MONITOR L")
    assert got[0].text == "bob"


def test_extended_monitor_away_account_setname(net: Network) -> None:
    """extended-monitor: "If away-notify is also enabled, the client will get AWAY
    notifications for monitored nicks", likewise ACCOUNT with account-notify and SETNAME
    with setname."""
    watcher = net.user("watcher", ["extended-monitor", "away-notify", "account-notify", "setname"])
    plain = net.user("plain", ["away-notify", "setname"])
    ask(watcher, "MONITOR + bob")
    ask(plain, "MONITOR + bob")
    bob = net.account("bob")
    ask(bob, "AWAY :lunch", "SETNAME :Robert")
    got = ask(watcher)
    commands = [line.command for line in got if line.nick == "bob"]
    assert commands == ["ACCOUNT", "AWAY", "SETNAME"]
    # plain monitors bob but has no extended-monitor: only 730, never AWAY or SETNAME.
    assert [line.command for line in ask(plain) if line.nick == "bob"] == []
    ask(bob, "NICK robert")
    nick = watcher.first(lambda x: x.command == "NICK")
    assert nick.nick == "bob" and nick.params == ["robert"]


def test_extended_monitor_account_change(net: Network) -> None:
    """extended-monitor: "If account-notify is also enabled, the client will get ACCOUNT
    notifications for monitored nicks.\""""
    watcher = net.user("watcher", ["extended-monitor", "account-notify"])
    ask(watcher, "MONITOR + bob")
    net.account("bob")
    line = watcher.first(lambda x: x.command == "ACCOUNT")
    assert line.nick == "bob" and line.params == ["bob"]


def test_neighbours_are_not_told_twice(net: Network) -> None:
    """extended-monitor exists because clients "are not able to do so when they don't share
    a channel": a watcher sharing a channel gets the AWAY once, through away-notify."""
    watcher = net.user("watcher", ["extended-monitor", "away-notify"])
    bob = net.user("bob")
    watcher.join("#room")
    bob.join("#room")
    ask(watcher, "MONITOR + bob")
    ask(bob, "AWAY :out")
    got = [line for line in ask(watcher) if line.command == "AWAY"]
    assert len(got) == 1
