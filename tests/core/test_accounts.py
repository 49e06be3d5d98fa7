"""Accounts in the core: REGISTER/VERIFY, NickServ, nick ownership, login throttling and the
account capabilities (account-tag, account-notify, extended-join, WHOX, 330)."""

from __future__ import annotations

import dataclasses

import pytest
from account_helpers import PASSWORD, account_config, deferred_harness, registered
from core_helpers import Harness, one, only

from hubbub.core.model import PROFILE_ACCOUNT


@pytest.fixture
def h() -> Harness:
    return Harness(account_config())


def store_of(h: Harness):  # type: ignore[no-untyped-def]
    return h.server.accounts.service.store  # type: ignore[attr-defined]


# -- REGISTER (draft/account-registration) ------------------------------------------------------


def test_caps_are_advertised(h: Harness) -> None:
    c = h.connect()
    c.send("CAP LS 302")
    text = " ".join(c.raw())
    for cap in ("account-notify", "account-tag", "extended-join"):
        assert cap in text
    assert "draft/account-registration=before-connect,custom-account-name" in text
    assert "sasl=PLAIN,SCRAM-SHA-256,EXTERNAL" in text


def test_register_after_connecting_logs_in(h: Harness) -> None:
    c = h.client("alice")
    c.send(f"REGISTER * alice@example.org {PASSWORD}")
    got = c.lines()
    assert [(m.command, list(m.params[:2])) for m in got] == [
        ("REGISTER", ["SUCCESS", "alice"]),
        ("900", ["alice", "alice!~alice@127.0.0.1"]),
    ]
    assert c.user.account == "alice"
    account = store_of(h).get("alice")
    assert account.email == "alice@example.org" and not account.pending
    assert PASSWORD not in repr(account) and account.credentials.password_hash.startswith(
        "$argon2id"
    )
    c.send("WHOIS alice")
    assert list(one(c.lines(), "330").params[1:]) == ["alice", "alice", "is logged in as"]


def test_register_before_connect_then_cap_end(h: Harness) -> None:
    c = h.connect()
    c.send("CAP LS 302")
    c.send("NICK bob")
    c.send("USER bob 0 * :Bob")
    c.send(f"REGISTER * * {PASSWORD}")
    got = c.lines()
    assert list(one(got, "REGISTER").params[:2]) == ["SUCCESS", "bob"]
    assert "001" not in [m.command for m in got]
    c.send("CAP END")
    assert "001" in c.numerics()
    assert c.user.account == "bob"


def test_register_refusals(h: Harness) -> None:
    alice = registered(h, "alice")
    bob = h.client("bob")
    cases = [
        ("REGISTER * * short", "WEAK_PASSWORD"),
        ("REGISTER * * bobbobbob", None),  # fine: not the name
        (f"REGISTER alice * {PASSWORD}", "ACCOUNT_EXISTS"),
        (f"REGISTER NickServ * {PASSWORD}", "BAD_ACCOUNT_NAME"),
        (f"REGISTER 1bad * {PASSWORD}", "BAD_ACCOUNT_NAME"),
        (f"REGISTER * bad-email {PASSWORD}", "INVALID_EMAIL"),
    ]
    for line, code in cases[:1] + cases[2:]:
        bob.send(line)
        fail = one(bob.lines(), "FAIL")
        assert list(fail.params[:2]) == ["REGISTER", code], line
    alice.send(f"REGISTER other * {PASSWORD}")
    assert one(alice.lines(), "FAIL").params[1] == "ALREADY_AUTHENTICATED"
    bob.send("REGISTER carol * x")  # too few parameters for a password? no: 3 params, weak
    assert one(bob.lines(), "FAIL").params[1] == "WEAK_PASSWORD"
    bob.send(f"REGISTER alice2 * {PASSWORD}")  # custom account name
    assert list(one(bob.lines(), "REGISTER").params[:2]) == ["SUCCESS", "alice2"]
    assert bob.user.account == "alice2"


def test_registration_closed_and_verify(h: Harness) -> None:
    h = Harness(account_config(registration="closed"))
    c = h.client("alice")
    c.send(f"REGISTER * * {PASSWORD}")
    assert list(one(c.lines(), "FAIL").params[:2]) == ["REGISTER", "TEMPORARILY_UNAVAILABLE"]
    c.send("VERIFY alice 1234")
    assert list(one(c.lines(), "FAIL").params[:2]) == ["VERIFY", "INVALID_CODE"]


def test_approval_mode_leaves_the_account_pending_until_approved() -> None:
    h = Harness(account_config(registration="approval"))
    c = h.client("alice")
    c.send(f"REGISTER * * {PASSWORD}")
    got = c.lines()
    assert list(one(got, "REGISTER").params[:2]) == ["VERIFICATION_REQUIRED", "alice"]
    assert not only(got, "900") and c.user.account == ""
    c.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    assert "awaits approval" in one(c.lines(), "NOTICE").params[1]
    assert store_of(h).approve("alice")  # what `hubbub accounts approve alice` does
    c.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    assert "900" in c.numerics()
    assert c.user.account == "alice"


def test_labels_go_on_the_deferred_answer() -> None:
    h, service = deferred_harness()
    c = h.client("alice", ["labeled-response", "batch"])
    c.send(f"@label=r1 REGISTER * * {PASSWORD}")
    assert c.raw() == []  # no ACK: the answer is on its way
    service.complete()
    got = c.lines()
    assert got[0].command == "BATCH" and got[0].tags == {"label": "r1"}
    assert [m.command for m in got[1:-1]] == ["REGISTER", "900"]


def test_store_failure_is_temporarily_unavailable() -> None:
    h, service = deferred_harness()
    c = h.client("alice")
    service.broken = True
    c.send(f"REGISTER * * {PASSWORD}")
    service.complete()
    assert list(one(c.lines(), "FAIL").params[:2]) == ["REGISTER", "TEMPORARILY_UNAVAILABLE"]


def test_an_answer_for_a_client_that_left_is_dropped() -> None:
    h, service = deferred_harness()
    c = h.client("alice")
    c.send(f"REGISTER * * {PASSWORD}")
    c.send("QUIT")
    service.complete()  # must not write to the closed link (FakeLink asserts)
    assert c.link.closed


# -- NickServ ------------------------------------------------------------------------------------


def test_nickserv_is_a_visible_pseudo_user(h: Harness) -> None:
    c = h.client("alice")
    c.send("WHOIS NickServ")
    assert list(one(c.lines(), "311").params[1:3]) == ["NickServ", "NickServ"]
    c.send("NICK nickserv")
    assert c.numerics() == ["433"]
    c.send("PRIVMSG NickServ :HELP")
    notices = c.lines()
    assert notices and all(m.source.startswith("NickServ!") for m in notices)


def test_nickserv_register_identify_logout(h: Harness) -> None:
    alice = registered(h, "alice")
    alice.send("PRIVMSG NickServ :LOGOUT")
    got = alice.lines()
    assert "901" in [m.command for m in got] and alice.user.account == ""
    alice.send("PRIVMSG NickServ :IDENTIFY wrong-password")
    assert "Invalid" in one(alice.lines(), "NOTICE").params[1]
    alice.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    assert one(alice.lines(), "900").params[2] == "alice"
    alice.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    assert "already logged in" in one(alice.lines(), "NOTICE").params[1]
    # Nothing said to NickServ is stored.
    assert all("NickServ" not in str(r.params) for r in h.store.latest("dm:alice nickserv", 10))
    assert h.store.targets(0, 2**62, 10, [], "alice") == []


def test_set_password_and_drop(h: Harness) -> None:
    alice = registered(h, "alice")
    alice.send("PRIVMSG NickServ :SET PASSWORD another-password")
    assert one(alice.lines(), "NOTICE").params[1] == "Password changed"
    alice.send("PRIVMSG NickServ :LOGOUT")
    alice.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    alice.drain()
    assert alice.user.account == ""
    alice.send("PRIVMSG NickServ :IDENTIFY another-password")
    assert alice.user.account == "alice"
    alice.send("PRIVMSG NickServ :DROP wrong-one")
    alice.drain()
    assert store_of(h).get("alice") is not None
    alice.send("PRIVMSG NickServ :DROP another-password")
    got = alice.lines()
    assert "901" in [m.command for m in got]
    assert store_of(h).get("alice") is None and "alice" not in h.server.accounts.names


def test_cert_add_list_del(h: Harness) -> None:
    fp = "ab" * 32
    c = h.connect()
    c.session.certfp = fp
    c.send("NICK alice")
    c.send("USER a 0 * :A")
    c.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    c.send("PRIVMSG NickServ :CERT ADD")
    c.send("PRIVMSG NickServ :CERT LIST")
    texts = [m.params[1] for m in only(c.lines(), "NOTICE") if m.source.startswith("NickServ")]
    assert f"Certificate {fp} added" in texts and f"Certificate: {fp}" in texts
    c.send("PRIVMSG NickServ :CERT ADD nothex")
    c.send(f"PRIVMSG NickServ :CERT DEL {':'.join(fp[i : i + 2] for i in range(0, 64, 2))}")
    texts = [m.params[1] for m in only(c.lines(), "NOTICE")]
    assert texts[-1] == f"Certificate {fp} removed"
    assert store_of(h).find_by_cert(fp) is None


# -- nick ownership --------------------------------------------------------------------------------


def test_grace_then_guest_nick(h: Harness) -> None:
    alice = registered(h, "alice")
    alice.send("QUIT")
    bob = h.client("bob")
    mallory = h.connect()
    mallory.send("NICK alice")
    mallory.send("USER m 0 * :M")
    got = mallory.lines()
    warning = [m for m in got if m.command == "NOTICE" and m.source.startswith("NickServ")]
    assert warning and "registered" in warning[0].params[1]
    h.join("#room", bob, mallory)
    h.tick(30)
    h.server.tick(h.now)
    assert mallory.nick == "alice"
    h.tick(31)
    h.server.tick(h.now)
    assert mallory.nick.startswith("Guest")
    nick = one(mallory.lines(), "NICK")
    assert list(nick.source.startswith("alice!") and nick.params) == [mallory.nick]
    assert list(one(bob.lines(), "NICK").params) == [mallory.nick]
    assert h.server.find_user("alice") is None


def test_identifying_in_time_keeps_the_nick(h: Harness) -> None:
    registered(h, "alice").send("QUIT")
    c = h.client("alice")
    c.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    h.tick(120)
    h.server.tick(h.now)
    assert c.nick == "alice"


def test_changing_to_a_registered_nick_starts_the_grace_period(h: Harness) -> None:
    registered(h, "alice").send("QUIT")
    c = h.client("bob")
    c.send("NICK alice")
    assert any("registered" in m.params[-1] for m in only(c.lines(), "NOTICE"))
    c.send("NICK carol")  # leaving the nick ends the grace period
    h.tick(120)
    h.server.tick(h.now)
    assert c.nick == "carol"


def test_reject_mode() -> None:
    h = Harness(account_config(nick_enforcement="reject"))
    registered(h, "alice").send("QUIT")
    c = h.connect()
    c.send("NICK alice")
    c.send("USER a 0 * :A")
    got = c.lines()
    assert [m.command for m in got] == ["433"] and "registered" in got[0].params[-1]
    c.send("NICK alice_")
    assert "001" in c.numerics()
    c.send("NICK alice")
    assert c.numerics() == ["433"]
    c.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    c.drain()
    c.send("NICK alice")
    assert list(one(c.lines(), "NICK").params) == ["alice"]


def test_none_mode_enforces_nothing() -> None:
    h = Harness(account_config(nick_enforcement="none"))
    registered(h, "alice").send("QUIT")
    c = h.client("alice")
    h.tick(1000)
    h.server.tick(h.now)
    assert c.nick == "alice"


# -- throttling ---------------------------------------------------------------------------------


def test_failed_logins_are_throttled_then_disconnected(h: Harness) -> None:
    registered(h, "alice").send("QUIT")
    c = h.client("mallory")
    for _ in range(5):
        c.send("PRIVMSG NickServ :IDENTIFY alice guess")
        assert "Invalid" in one(c.lines(), "NOTICE").params[1]
    c.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")  # even the right one: refused
    assert "Too many failed login attempts" in one(c.lines(), "NOTICE").params[1]
    assert c.user.account == ""
    c.send("PRIVMSG NickServ :IDENTIFY alice guess")
    c.send("PRIVMSG NickServ :IDENTIFY alice guess")
    assert c.session.closed
    assert "Too many failed login attempts" in c.raw()[-1]
    # Per account: another address is refused too, until the bucket refills.
    other = h.connect(host="10.0.0.9")
    other.send("NICK eve")
    other.send("USER e 0 * :E")
    other.drain()
    other.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    assert "Too many" in one(other.lines(), "NOTICE").params[1]
    h.tick(61)
    other.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    assert other.user.account == "alice"


# -- capabilities --------------------------------------------------------------------------------


def test_account_tag_once_per_profile(h: Harness) -> None:
    alice = registered(h, "alice")
    bob = h.client("bob", ["account-tag"])
    carol = h.client("carol", ["account-tag"])
    dave = h.client("dave")
    h.join("#room", alice, bob, carol, dave)
    alice.send("PRIVMSG #room :hello")
    got = one(bob.lines(), "PRIVMSG")
    assert got.tags == {"account": "alice"}
    assert one(dave.lines(), "PRIVMSG").tags == {}
    assert bob.link.writes[-1] is carol.link.writes[-1]  # formatted once for the profile
    assert bob.session.profile & PROFILE_ACCOUNT
    dave.send("PRIVMSG #room :anonymous")
    assert one(bob.lines(), "PRIVMSG").tags == {}
    # Stored with the account's stable id, replayed with its name.
    assert h.store.latest("#room", 5)[-2].account == alice.user.account_id
    assert alice.user.account_id.startswith("alice!")


def test_tagmsg_is_not_sent_to_account_tag_only_clients(h: Harness) -> None:
    alice = h.client("alice", ["message-tags"])
    bob = h.client("bob", ["account-tag"])
    h.join("#room", alice, bob)
    alice.send("@+typing=active TAGMSG #room")
    assert bob.raw() == []


def test_account_notify_and_extended_join(h: Harness) -> None:
    alice = h.client("alice", ["extended-join"])
    bob = h.client("bob", ["account-notify", "extended-join"])
    carol = h.client("carol")
    h.join("#room", bob, carol)
    alice.send("JOIN #room")
    assert list(one(alice.lines(), "JOIN").params) == ["#room", "*", "alice Example"]
    assert list(one(bob.lines(), "JOIN").params) == ["#room", "*", "alice Example"]
    assert list(one(carol.lines(), "JOIN").params) == ["#room"]
    alice.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    account = one(bob.lines(), "ACCOUNT")
    assert list(account.source.startswith("alice!") and account.params) == ["alice"]
    assert carol.raw() == []
    alice.send("PART #room")
    alice.send("JOIN #room")
    assert list(one(bob.lines(), "JOIN").params) == ["#room", "alice", "alice Example"]
    alice.send("PRIVMSG NickServ :LOGOUT")
    assert list(one(bob.lines(), "ACCOUNT").params) == ["*"]


def test_whox(h: Harness) -> None:
    alice = registered(h, "alice")
    bob = h.client("bob")
    h.join("#room", alice, bob)
    bob.send("WHO #room %tcnuhfar,42")
    replies = {m.params[5]: m.params for m in only(bob.lines(), "354")}
    # fields in the order tcuihsnfdlaor: token, channel, user, host, nick, flags, account, name
    assert list(replies["alice"][1:]) == [
        "42",
        "#room",
        "~alice",
        "127.0.0.1",
        "alice",
        "H@",
        "alice",
        "alice Example",
    ]
    assert replies["bob"][7] == "0"
    bob.send("WHO alice %na")
    assert list(one(bob.lines(), "354").params[1:]) == ["alice", "alice"]
    bob.send("VERSION")
    assert any("WHOX" in m.params for m in only(bob.lines(), "005"))


def test_tls_mode_and_whois_671() -> None:
    h = Harness(account_config())
    link_client = h.connect()
    link_client.session.secure = True
    link_client.send("NICK alice")
    link_client.send("USER a 0 * :A")
    link_client.send("MODE alice")
    assert one(link_client.lines(), "221").params[1] == "+Z"
    link_client.send("MODE alice +Z-Z")
    assert link_client.numerics() == []
    bob = h.client("bob")
    bob.send("WHOIS alice")
    assert "671" in bob.numerics()


def test_require_tls_refuses_plain_text_but_not_loopback() -> None:
    h = Harness(account_config())
    h.server.config = dataclasses.replace(
        h.config, tls=dataclasses.replace(h.config.tls, require_tls=True)
    )
    remote = h.connect(host="192.0.2.7")
    remote.send("NICK alice")
    remote.send("USER a 0 * :A")
    assert remote.session.closed
    assert "requires TLS" in " ".join(remote.raw())
    local = h.client("bob")
    assert local.session.registered
    secure = h.connect(host="192.0.2.8")
    secure.session.secure = True
    secure.send("NICK carol")
    secure.send("USER c 0 * :C")
    assert "001" in secure.numerics()
