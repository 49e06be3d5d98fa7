"""SASL in the core: AUTHENTICATE with PLAIN, SCRAM-SHA-256 and EXTERNAL; chunking, aborts,
errors, throttling and the welcome waiting for an answer."""

from __future__ import annotations

import base64

import pytest
from account_helpers import PASSWORD, account_config, b64, deferred_harness, registered
from core_helpers import Client, Harness, one

from hubbub.accounts.model import Account
from hubbub.accounts.scram import ScramClient
from hubbub.core.sasl import CHUNK

FP = "cd" * 32


@pytest.fixture
def h() -> Harness:
    h = Harness(account_config())
    registered(h, "alice").send("QUIT")
    return h


def negotiating(h: Harness, nick: str = "alice", certfp: str | None = None) -> Client:
    c = h.connect()
    c.session.certfp = certfp
    c.send("CAP LS 302")
    c.send(f"NICK {nick}")
    c.send(f"USER {nick} 0 * :{nick}")
    c.send("CAP REQ :sasl")
    c.drain()
    return c


def plain(authcid: str, password: str, authzid: str = "") -> str:
    return b64(f"{authzid}\0{authcid}\0{password}".encode())


def test_plain_then_welcome(h: Harness) -> None:
    c = negotiating(h)
    c.send("AUTHENTICATE PLAIN")
    assert c.raw() == ["AUTHENTICATE +"]
    c.send("AUTHENTICATE " + plain("alice", PASSWORD))
    got = c.lines()
    assert [m.command for m in got] == ["900", "903"]
    assert list(got[0].params[1:3]) == ["alice!~alice@127.0.0.1", "alice"]
    c.send("CAP END")
    assert "001" in c.numerics()
    h.tick(1000)
    h.server.tick(h.now)
    assert c.nick == "alice"  # owns it: no grace period


@pytest.mark.parametrize(
    "payload",
    [
        plain("alice", "wrong-password"),
        plain("nobody", PASSWORD),
        plain("alice", PASSWORD, authzid="bob"),
        b64(b"no separators"),
        "not*base64",
    ],
)
def test_plain_failures(h: Harness, payload: str) -> None:
    c = negotiating(h)
    c.send("AUTHENTICATE PLAIN")
    c.send("AUTHENTICATE " + payload)
    assert c.numerics() == ["904"]
    assert c.user.account == "" and c.session.sasl is None


def test_chunked_message(h: Harness) -> None:
    c = negotiating(h)
    long_password = "x" * 600
    payload = plain("alice", long_password)
    assert len(payload) > CHUNK
    c.send("AUTHENTICATE PLAIN")
    c.drain()
    for start in range(0, len(payload), CHUNK):
        c.send("AUTHENTICATE " + payload[start : start + CHUNK])
    if len(payload) % CHUNK == 0:
        c.send("AUTHENTICATE +")
    assert c.numerics() == ["904"]  # parsed whole: just the wrong password


def test_exactly_400_bytes_then_plus(h: Harness) -> None:
    c = negotiating(h)
    # A password that makes the base64 exactly 400 characters long (300 bytes).
    raw = f"\0alice\0{PASSWORD}".encode()
    password = PASSWORD + "y" * (300 - len(raw))
    payload = plain("alice", password)
    assert len(payload) == CHUNK
    c.send("AUTHENTICATE PLAIN")
    c.send("AUTHENTICATE " + payload)
    c.drain()
    assert c.session.sasl is not None  # waiting for more
    c.send("AUTHENTICATE +")
    assert c.numerics() == ["904"]


def test_too_long_abort_already_and_unknown_mechanism(h: Harness) -> None:
    c = negotiating(h)
    c.send("AUTHENTICATE PLAIN")
    c.send("AUTHENTICATE " + "A" * 401)
    assert c.numerics() == ["905"]
    c.send("AUTHENTICATE PLAIN")
    for _ in range(11):
        c.send("AUTHENTICATE " + "A" * CHUNK)
    assert c.numerics() == ["905"]
    c.send("AUTHENTICATE PLAIN")
    c.send("AUTHENTICATE *")
    assert c.numerics() == ["906"]
    c.send("AUTHENTICATE GSSAPI")
    got = c.lines()
    assert [m.command for m in got] == ["908", "904"]
    assert got[0].params[1] == "PLAIN,SCRAM-SHA-256,EXTERNAL"
    c.send("AUTHENTICATE EXTERNAL")  # no client certificate
    assert c.numerics() == ["904"]
    c.send("AUTHENTICATE PLAIN")
    c.send("AUTHENTICATE " + plain("alice", PASSWORD))
    c.drain()
    c.send("AUTHENTICATE PLAIN")
    assert c.numerics() == ["907"]


def test_cap_end_in_the_middle_aborts(h: Harness) -> None:
    c = negotiating(h)
    c.send("AUTHENTICATE PLAIN")
    c.drain()
    c.send("CAP END")
    got = c.numerics()
    assert got[0] == "906" and "001" in got


def scram_login(c: Client, user: str, password: str) -> list[str]:
    client = ScramClient(user, password)
    c.send("AUTHENTICATE SCRAM-SHA-256")
    assert c.raw() == ["AUTHENTICATE +"]
    c.send("AUTHENTICATE " + b64(client.first()))
    got = c.lines()
    if [m.command for m in got] != ["AUTHENTICATE"]:
        return [m.command for m in got]
    first = got[0].params[0]
    c.send("AUTHENTICATE " + b64(client.final(base64.b64decode(first))))
    got = c.lines()
    if [m.command for m in got] != ["AUTHENTICATE"]:
        return [m.command for m in got]
    assert client.verify(base64.b64decode(got[0].params[0]))
    c.send("AUTHENTICATE +")
    return c.numerics()


def test_scram_sha_256(h: Harness) -> None:
    c = negotiating(h)
    assert scram_login(c, "alice", PASSWORD) == ["900", "903"]
    assert c.user.account == "alice"


def test_scram_wrong_password_and_unknown_account(h: Harness) -> None:
    c = negotiating(h)
    assert scram_login(c, "alice", "wrong-password") == ["904"]
    assert scram_login(c, "nobody", PASSWORD) == ["904"]
    assert c.user.account == ""


def test_external(h: Harness) -> None:
    owner = h.client("owner")
    owner.send("PRIVMSG NickServ :IDENTIFY alice " + PASSWORD)
    owner.send(f"PRIVMSG NickServ :CERT ADD {FP}")
    owner.drain()
    c = negotiating(h, "someone", certfp=FP)
    c.send("AUTHENTICATE EXTERNAL")
    c.send("AUTHENTICATE +")
    assert c.numerics() == ["900", "903"]
    assert c.user.account == "alice"
    other = negotiating(h, "stranger", certfp="ef" * 32)
    other.send("AUTHENTICATE EXTERNAL")
    other.send("AUTHENTICATE +")
    assert other.numerics() == ["904"]
    claims = negotiating(h, "claimer", certfp=FP)
    claims.send("AUTHENTICATE EXTERNAL")
    claims.send("AUTHENTICATE " + b64(b"bob"))  # may not act as bob
    assert claims.numerics() == ["904"]


def test_welcome_waits_for_the_answer() -> None:
    h, service = deferred_harness()
    credentials = h.server.accounts.passwords.make(PASSWORD)
    service.store.create(Account("alice", "alice", credentials))
    h.server.accounts.names.add("alice")
    c = negotiating(h)
    c.send("AUTHENTICATE PLAIN")
    c.send("AUTHENTICATE " + plain("alice", PASSWORD))
    c.send("CAP END")
    c.send("AUTHENTICATE *")  # ignored while the check runs
    assert c.numerics() == []
    assert not c.session.registered
    service.complete()
    got = c.numerics()
    assert got[:2] == ["900", "903"] and "001" in got
    assert c.session.registered and c.user.account == "alice"


def test_sasl_failures_are_throttled(h: Harness) -> None:
    c = negotiating(h, "mallory")
    for _ in range(5):
        c.send("AUTHENTICATE PLAIN")
        c.send("AUTHENTICATE " + plain("alice", "guess"))
        assert c.numerics() == ["904"]
    c.send("AUTHENTICATE PLAIN")
    c.send("AUTHENTICATE " + plain("alice", PASSWORD))
    got = one(c.lines(), "904")
    assert "Too many failed login attempts" in got.params[-1]
    assert scram_login(c, "alice", PASSWORD) == ["904"]  # SCRAM too: throttled up front
    c.send("AUTHENTICATE PLAIN")
    c.send("AUTHENTICATE " + plain("alice", PASSWORD))
    assert c.session.closed


def test_sasl_after_registration(h: Harness) -> None:
    c = h.client("late", ["sasl"])
    c.send("AUTHENTICATE PLAIN")
    c.send("AUTHENTICATE " + plain("alice", PASSWORD))
    assert c.numerics() == ["900", "903"]
    c.send("WHOIS late")
    assert "330" in c.numerics()
