"""Persistent channels in the core: ChanServ REGISTER / DROP / INFO / ACCESS / SET, saving
topic, modes and bans, the channel outliving its members, a "restart" (a new core on the same
registry store) and the owner opped on join."""

from __future__ import annotations

import pytest
from account_helpers import PASSWORD, registered
from core_helpers import Client, Harness, one, only
from oper_helpers import oper_config, opered

from hubbub.registry.memory import MemoryRegistryStore
from hubbub.registry.model import RegisteredChannel
from hubbub.registry.store import RegistryStore
from support.core_services import HeldService, SyncService


@pytest.fixture
def h() -> Harness:
    return Harness(oper_config())


def store_of(h: Harness) -> RegistryStore:
    return h.server.registry.service.store  # type: ignore[attr-defined,no-any-return]


def saved(h: Harness, name: str = "#keep") -> RegisteredChannel:
    found = store_of(h).get_channel(name)
    assert found is not None
    return found


def cs(c: Client, text: str) -> list[str]:
    c.send(f"PRIVMSG ChanServ :{text}")
    return [m.params[-1] for m in c.lines() if m.command == "NOTICE"]


def restart(h: Harness) -> None:
    """A new core on the same account and registry stores; every client is gone."""
    accounts = h.server.accounts.service
    registry = SyncService(store_of(h))
    h.server.shutdown("restart")
    h.clients.clear()
    h.rebuild(accounts, registry, instance_id="t2")


def identify(h: Harness, nick: str) -> Client:
    c = h.client(nick)
    c.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    assert "900" in c.numerics()
    return c


def test_register_needs_login_and_op(h: Harness) -> None:
    alice = registered(h, "alice")
    bob = h.client("bob")
    h.join("#keep", alice, bob)
    assert "logged in" in cs(bob, "REGISTER #keep")[0]
    carol = registered(h, "carol")
    h.join("#keep", carol)
    assert "must be an operator" in cs(carol, "REGISTER #keep")[0]
    assert "No such channel" in cs(alice, "REGISTER #nothing")[0]
    assert cs(alice, "REGISTER #keep") == ["#keep is now registered to alice"]
    assert saved(h).owner == "alice"
    assert "already registered" in cs(alice, "REGISTER #keep")[0]
    assert "Syntax" in cs(alice, "REGISTER")[0]
    assert len(cs(alice, "HELP")) > 3


def test_registration_limit() -> None:
    h = Harness(oper_config(accounts={"max_channels": 1}))
    alice = registered(h, "alice")
    h.join("#one", alice)
    h.join("#two", alice)
    assert "now registered" in cs(alice, "REGISTER #one")[0]
    assert "at most 1" in cs(alice, "REGISTER #two")[0]


def test_state_is_saved_and_survives_a_restart(h: Harness) -> None:
    alice = registered(h, "alice")
    bob = registered(h, "bob")
    h.join("#keep", alice)
    cs(alice, "REGISTER #keep")
    alice.send("TOPIC #keep :Remember me")
    alice.send("MODE #keep +iklms sekrit 10")
    alice.send("MODE #keep +b *!*@spam.example")
    assert cs(alice, "ACCESS #keep ADD bob") == ["bob is now an operator of #keep"]
    assert "no account" in cs(alice, "ACCESS #keep ADD ghost")[0]
    assert "History access of #keep is now since_join" in cs(alice, "SET #keep HISTORY since_join")
    state = saved(h)
    assert (state.topic, state.flags, state.key, state.limit) == (
        "Remember me",
        "imnst",
        "sekrit",
        10,
    )
    assert [b.mask for b in state.bans] == ["*!*@spam.example"]
    assert state.ops == ("bob",) and state.history_access == "since_join"
    h.join("#keep", bob)  # bob passes +i +k: he is on the access list
    assert h.channel("#keep").members[bob.user].op
    restart(h)
    channel = h.channel("#keep")  # exists, empty, from the start
    assert not channel.members and channel.topic is not None
    assert channel.topic.text == "Remember me" and channel.key == "sekrit"
    assert channel.invite_only and channel.moderated and channel.secret and channel.limit == 10
    assert [b.mask for b in channel.bans] == ["*!*@spam.example"]
    assert channel.history_access == "since_join"
    stranger = h.client("stranger")
    stranger.send("JOIN #keep sekrit")
    assert stranger.numerics() == ["473"]  # +i kept
    owner = identify(h, "alice")
    owner.send("JOIN #keep")  # no key needed, not invited: the owner
    got = owner.lines()
    assert one(got, "332").params[-1] == "Remember me"
    assert "@alice" in one(got, "353").params[-1]
    owner.send("MODE #keep")
    assert one(owner.lines(), "324").params[2:] == ("+iklmnst", "sekrit", "10")


def test_first_joiner_of_an_empty_registered_channel_is_not_opped(h: Harness) -> None:
    alice = registered(h, "alice")
    h.join("#keep", alice)
    cs(alice, "REGISTER #keep")
    alice.send("PART #keep")
    assert h.server.find_channel("#keep") is not None  # stays, empty
    bob = h.client("bob")
    h.join("#keep", bob)
    assert not h.channel("#keep").members[bob.user].op
    h.join("#keep", alice)
    assert h.channel("#keep").members[alice.user].op
    bob.send("LIST")
    assert one(bob.lines(), "322").params[1:3] == ("#keep", "2")


def test_info_access_and_drop(h: Harness) -> None:
    alice = registered(h, "alice")
    bob = registered(h, "bob")
    h.join("#keep", alice, bob)
    cs(alice, "REGISTER #keep")
    info = cs(bob, "INFO #keep")
    assert info[0].startswith("#keep is registered to alice since ")
    assert info[2] == "History access: everyone"
    assert "Only the operators" in cs(bob, "ACCESS #keep LIST")[0]
    assert "Only the owner" in cs(bob, "ACCESS #keep ADD bob")[0]
    cs(alice, "ACCESS #keep ADD bob")
    assert cs(bob, "ACCESS #keep LIST") == ["Owner: alice", "Operator: bob"]
    assert "Only the owner" in cs(bob, "DROP #keep")[0]
    assert cs(alice, "ACCESS #keep DEL BOB") == ["bob is no longer an operator of #keep"]
    assert saved(h).ops == ()
    alice.send("PART #keep")
    bob.send("PART #keep")
    assert h.server.find_channel("#keep") is not None
    assert "no longer registered" in cs(alice, "DROP #keep")[0]
    assert store_of(h).get_channel("#keep") is None
    assert h.server.find_channel("#keep") is None  # empty and unregistered: gone


def test_an_oper_may_drop_any_registration(h: Harness) -> None:
    alice = registered(h, "alice")
    h.join("#keep", alice)
    cs(alice, "REGISTER #keep")
    op = opered(h, "root1")
    assert "no longer registered" in cs(op, "DROP #keep")[0]


def test_set_history_on_unregistered_channels_by_ops(h: Harness) -> None:
    alice, bob = h.client("alice"), h.client("bob")
    h.join("#free", alice, bob)
    assert "Only the operators" in cs(bob, "SET #free HISTORY registered")[0]
    assert "one of" in cs(alice, "SET #free HISTORY nobody")[0]
    assert "now registered" in cs(alice, "SET #free HISTORY registered")[0]
    notice = one(bob.lines(), "NOTICE")
    assert notice.source.startswith("ChanServ!") and "registered" in notice.params[-1]
    assert cs(bob, "SET #free HISTORY") == ["History access of #free: registered"]


def test_chanserv_is_a_service(h: Harness) -> None:
    c = h.client("alice")
    c.send("WHOIS ChanServ")
    assert one(c.lines(), "311").params[1] == "ChanServ"
    c.send("NICK ChanServ")
    assert c.numerics() == ["433"]
    assert only(h.store.latest("dm:alice chanserv", 5), "PRIVMSG") == []


def test_a_registration_holds_when_its_author_left_before_the_answer() -> None:
    """The store registered the channel: the live server knows it too, even though the client
    who asked quit before the registry answered (and so hears nothing)."""
    registry = HeldService(MemoryRegistryStore())
    h = Harness(oper_config(), registry=registry)
    registry.complete()  # the saved channels and bans, asked for at start
    alice = registered(h, "alice")
    h.join("#keep", alice)
    alice.send("PRIVMSG ChanServ :REGISTER #keep")
    h.server.disconnect(alice.session, "Connection reset", h.now)  # the transport lost it
    registry.complete()
    channel = h.server.find_channel("#keep")
    assert channel is not None and channel.registered is not None
    assert channel.registered.owner == "alice"
