"""Issue 11 #7 and #8: login, OPER and REGISTER throttling that pipelining and parallel
connections cannot outrun, one password check in flight per address and account, and a bounded
account worker queue.

The account service here is held (`support.core_services.HeldService`): like the real worker it
answers later, so attempts sent together really are in flight together. `CountingPasswords`
counts what the attacks cost in hashes.
"""

from __future__ import annotations

import dataclasses

from account_helpers import PASSWORD, DeferredAccounts, account_config, b64
from core_helpers import Client, Harness, make_config, only
from oper_helpers import OPER_PASSWORD, oper_hash

from hubbub.config import Config, Operator
from support.core_services import CountingPasswords

ATTEMPTS = 16


def held(config: Config | None = None) -> tuple[Harness, DeferredAccounts, CountingPasswords]:
    """A harness whose account calls wait for `service.complete()`, with alice registered."""
    service = DeferredAccounts()
    h = Harness(config or account_config(), accounts=service)
    service.complete()  # the names
    alice = h.connect(host="10.9.9.9")  # an address of its own: the tests' limits stay whole
    alice.send("NICK alice")
    alice.send("USER alice 0 * :alice")
    alice.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    service.complete()
    assert "alice" in h.server.accounts.names
    alice.send("QUIT")
    counting = CountingPasswords(h.server.accounts.passwords)
    h.server.accounts.passwords = counting
    return h, service, counting


def sasl_client(h: Harness, nick: str, host: str = "192.0.2.7") -> Client:
    c = h.connect(host=host)
    c.send("CAP LS 302")
    c.send(f"NICK {nick}")
    c.send(f"USER {nick} 0 * :{nick}")
    c.send("CAP REQ :sasl")
    c.send("AUTHENTICATE PLAIN")
    c.drain()
    return c


def notices(c: Client) -> list[str]:
    return [m.params[1] for m in only(c.lines(), "NOTICE")]


def test_pipelined_identifies_with_the_right_password_15th_stay_throttled() -> None:
    h, service, counting = held()
    c = h.client("mallory")
    for attempt in range(1, ATTEMPTS + 1):
        password = PASSWORD if attempt == 15 else f"guess-{attempt}"
        c.send(f"PRIVMSG NickServ :IDENTIFY alice {password}")
    service.complete()
    assert c.user.account == ""
    assert counting.hashes <= 5
    assert c.session.closed  # the third refused attempt disconnects


def test_parallel_identifies_from_one_address_are_throttled_when_submitted() -> None:
    """16 connections from one address send IDENTIFY at once, the 15th with the right
    password: the tokens are taken when the attempts arrive, so 11 are refused at once and
    none of those is hashed; the others are checked one at a time."""
    h, service, counting = held()
    clients = [h.connect(host="192.0.2.7") for _ in range(ATTEMPTS)]
    for number, c in enumerate(clients, 1):
        c.send(f"NICK m{number}")
        c.send(f"USER m 0 * :m{number}")
        c.drain()
    for number, c in enumerate(clients, 1):
        password = PASSWORD if number == 15 else f"guess-{number}"
        c.send(f"PRIVMSG NickServ :IDENTIFY alice {password}")
    assert len(service.pending) == 1  # one check in flight for the address and the account
    refused = [c for c in clients if any("Too many" in t for t in notices(c))]
    assert len(refused) == ATTEMPTS - 5
    service.complete()
    assert all(c.user.account == "" for c in clients)
    assert counting.hashes <= 5


def test_parallel_sasl_plain_connections_from_one_address_are_throttled() -> None:
    h, service, counting = held()
    clients = [sasl_client(h, f"s{number}") for number in range(ATTEMPTS)]
    for c in clients:
        c.send("AUTHENTICATE " + b64(b"\0alice\0wrong-password"))
    assert len(service.pending) <= 1
    service.complete()
    answers = [m for c in clients for m in c.lines() if m.command == "904"]
    assert len(answers) == ATTEMPTS
    assert sum("Too many" in m.params[-1] for m in answers) >= ATTEMPTS - 5
    assert counting.hashes <= 5


def test_a_right_password_gives_its_token_back() -> None:
    """Taking the token at submission must not lock out users who log in right: many
    successful logins from one address (a bouncer) in a row all succeed."""
    h, service, _ = held()
    for number in range(3 * 5):
        c = sasl_client(h, f"u{number}")
        c.send("AUTHENTICATE " + b64(f"\0alice\0{PASSWORD}".encode()))
        service.complete()
        assert c.user.account == "alice", number
        c.send("QUIT")


def test_one_check_in_flight_per_account_across_addresses() -> None:
    h, service, counting = held()
    clients = [sasl_client(h, f"d{number}", host=f"198.51.100.{number}") for number in range(4)]
    for c in clients:
        c.send("AUTHENTICATE " + b64(b"\0alice\0wrong-password"))
    assert len(service.pending) == 1
    service.complete()
    assert counting.hashes == 4
    assert all(c.numerics() == ["904"] for c in clients)


def oper_harness() -> tuple[Harness, DeferredAccounts, CountingPasswords]:
    base = make_config(accounts={"hash_time_cost": 1, "hash_memory_kib": 64})
    config = dataclasses.replace(base, operators=(Operator("root", oper_hash(), "*@*"),))
    return held(config)


def test_pipelined_opers_are_not_all_hashed() -> None:
    h, service, counting = oper_harness()
    c = h.client("mallory")
    for _ in range(ATTEMPTS):
        c.send("OPER root wrong-password")
    service.complete()
    assert counting.hashes <= 5
    assert not c.user.oper


def test_parallel_opers_from_one_address_are_not_all_hashed() -> None:
    h, service, counting = oper_harness()
    clients = [h.client(f"o{number}") for number in range(ATTEMPTS)]
    for number, c in enumerate(clients):
        c.send(f"OPER root {OPER_PASSWORD if number == 14 else 'wrong-password'}")
    assert len(service.pending) == 1
    service.complete()
    assert counting.hashes <= 5
    assert not any(c.user.oper for c in clients)


# -- issue 11 #8: registrations per address, a bounded queue ----------------------------------


def test_pipelined_registers_create_at_most_the_allowed_number() -> None:
    """Approval mode: no login after a REGISTER, so one connection can send many."""
    h, service, counting = held(account_config(registration="approval", register_attempts=3))
    c = h.connect(host="203.0.113.5")
    c.send("CAP LS 302")
    for number in range(10):
        c.send(f"REGISTER acct{number} * {PASSWORD}")
    service.complete()
    got = c.raw()
    assert len([line for line in got if "VERIFICATION_REQUIRED" in line]) == 3
    assert len([line for line in got if "TEMPORARILY_UNAVAILABLE" in line]) == 7
    assert len([f for f in h.server.accounts.names if f.startswith("acct")]) == 3
    assert counting.hashes == 3


def test_registrations_are_limited_per_address_across_connections() -> None:
    h, service, _ = held(account_config(register_attempts=2))
    results = []
    for number in range(4):
        c = h.connect(host="203.0.113.9")
        c.send(f"REGISTER acct{number} * {PASSWORD}")
        service.complete()
        results.append(c.raw())
    assert sum("REGISTER SUCCESS" in " ".join(lines) for lines in results) == 2
    assert "FAIL REGISTER TEMPORARILY_UNAVAILABLE" in results[-1][-1]
    other = h.connect(host="203.0.113.10")  # another address is not affected
    other.send(f"REGISTER acct9 * {PASSWORD}")
    service.complete()
    assert any("REGISTER SUCCESS" in line for line in other.raw())


def test_a_full_queue_answers_temporarily_unavailable_at_once() -> None:
    h, service, counting = held(account_config(max_queued_calls=2))
    base = dataclasses.replace(h.config, operators=(Operator("root", oper_hash(), "*@*"),))
    h.server.rehash(base)
    fillers = [sasl_client(h, f"f{number}", host=f"198.51.100.{number}") for number in range(2)]
    for number, c in enumerate(fillers):
        c.send("AUTHENTICATE " + b64(f"\0acct{number}\0{PASSWORD}".encode()))
    assert len(service.pending) == 2  # the queue is full

    c = h.connect(host="203.0.113.77")
    c.send(f"REGISTER newacct * {PASSWORD}")
    assert c.raw()[-1].startswith(":hubbub.local FAIL REGISTER TEMPORARILY_UNAVAILABLE")
    c.send("NICK late")
    c.send("USER l 0 * :l")
    c.drain()
    c.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    assert any("temporarily unavailable" in t for t in notices(c))
    c.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    assert any("temporarily unavailable" in t.lower() for t in notices(c))
    c.send(f"OPER root {OPER_PASSWORD}")
    assert c.raw()[-1].startswith(":hubbub.local FAIL OPER TEMPORARILY_UNAVAILABLE")
    late = sasl_client(h, "sasl", host="203.0.113.78")
    late.send("AUTHENTICATE " + b64(f"\0alice\0{PASSWORD}".encode()))
    got = late.lines()
    assert [m.command for m in got] == ["904"] and "unavailable" in got[0].params[-1]
    assert len(service.pending) == 2 and counting.hashes == 0
    service.complete()
    assert h.server.accounts.queued == 0


def test_nickserv_register_is_limited_too() -> None:
    h, service, _ = held(account_config(register_attempts=1))
    first = h.client("first")
    first.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    service.complete()
    assert first.user.account == "first"
    second = h.client("second")
    second.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    assert any("Too many registrations" in t for t in notices(second))
    assert "second" not in h.server.accounts.names


def test_the_registration_buckets_are_forgotten_once_full_again() -> None:
    """Every bucket is bounded: an address's registration bucket goes once it has refilled."""
    h, service, _ = held(account_config(register_attempts=1, register_refill_seconds=60))
    c = h.connect(host="203.0.113.20")
    c.send(f"REGISTER sweeper * {PASSWORD}")
    service.complete()
    assert "r:203.0.113.20" in h.server.accounts.registrations.buckets
    h.tick(3600)
    h.server.tick(h.now)
    assert h.server.accounts.registrations.buckets == {}
