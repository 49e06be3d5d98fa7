"""Per client, replies come in the order of its commands, even when one waits on a worker.

A PING/PONG round trip is how clients, bots and test harnesses know that the commands before it
were answered, so a PING sent behind a command that waits on the account or history worker must
be answered after it. The services here answer only when the test says so (`complete()`), so
each test first checks that the PING really waits.

Every write is checked against the wire rules by `FakeLink` (512 bytes per line without tags).
"""

from __future__ import annotations

from account_helpers import PASSWORD, DeferredAccounts, account_config, b64, registered
from core_helpers import Client, DeferredHistory, Harness
from oper_helpers import OPER_PASSWORD, oper_config, opered

from hubbub.protocol.message import Message


def commands(messages: list[Message]) -> list[str]:
    return [m.command for m in messages]


def held_accounts(config: object = None) -> tuple[Harness, DeferredAccounts]:
    service = DeferredAccounts()
    h = Harness(config or oper_config(), accounts=service)  # type: ignore[arg-type]
    service.complete()  # the account names, asked for at start
    return h, service


def test_oper_is_answered_before_a_later_ping() -> None:
    """OPER name pw, then PING: 381 (and the +o MODE) before the PONG."""
    h, accounts = held_accounts()
    c = h.client("alice")
    c.send(f"OPER root {OPER_PASSWORD}")
    c.send("PING x")
    assert c.lines() == []  # the PING waits behind the password check
    accounts.complete()
    assert commands(c.lines()) == ["381", "MODE", "PONG"]


def test_a_wrong_oper_password_is_answered_before_a_later_ping() -> None:
    h, accounts = held_accounts()
    c = h.client("alice")
    c.send("OPER root wrong-password")
    c.send("PING x")
    assert c.lines() == []
    accounts.complete()
    assert commands(c.lines()) == ["464", "PONG"]


def test_nickserv_identify_is_answered_before_a_later_ping() -> None:
    h, accounts = held_accounts(account_config())
    owner = h.client("alice")
    owner.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    accounts.complete()
    owner.send("QUIT")
    c = h.client("alice")
    c.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    c.send("PING x")
    assert c.lines() == []
    accounts.complete()
    got = c.lines()
    assert commands(got) == ["900", "NOTICE", "PONG"], got


def test_register_is_answered_before_a_later_ping() -> None:
    """REGISTER * * pass (draft/account-registration), then PING."""
    h, accounts = held_accounts(account_config())
    c = h.client("alice", ["draft/account-registration"])
    c.send(f"REGISTER * * {PASSWORD}")
    c.send("PING x")
    assert c.lines() == []
    accounts.complete()
    got = c.lines()
    assert commands(got) == ["REGISTER", "900", "PONG"], got
    assert got[0].params[:2] == ("SUCCESS", "alice")


def test_chathistory_is_answered_before_a_later_ping() -> None:
    slow = DeferredHistory()
    h = Harness(history=slow)
    c = h.client("alice", ["batch", "server-time", "draft/chathistory"])
    c.send("JOIN #room")
    c.send("PRIVMSG #room :hello")
    c.drain()
    c.send("CHATHISTORY LATEST #room * 10")
    c.send("PING x")
    assert c.lines() == []
    slow.complete()
    assert commands(c.lines()) == ["BATCH", "PRIVMSG", "BATCH", "PONG"]


def test_the_label_lands_on_the_late_reply() -> None:
    """labeled-response: the label goes on the answer that came from the worker (here one
    batch around 381 and the MODE), not on an ACK sent before it."""
    h, accounts = held_accounts()
    c = h.client("alice", ["labeled-response", "batch"])
    c.send(f"@label=op1 OPER root {OPER_PASSWORD}")
    c.send("@label=p2 PING x")
    assert c.lines() == []
    accounts.complete()
    got = c.lines()
    assert commands(got) == ["BATCH", "381", "MODE", "BATCH", "PONG"], got
    assert got[0].tags == {"label": "op1"} and got[0].params[1] == "labeled-response"
    assert got[-1].tags == {"label": "p2"}


def test_a_single_late_line_carries_the_label() -> None:
    h, accounts = held_accounts()
    c = h.client("alice", ["labeled-response"])
    c.send("@label=x OPER root wrong-password")
    assert c.lines() == []
    accounts.complete()
    got = c.lines()
    assert commands(got) == ["464"] and got[0].tags == {"label": "x"}


def test_other_clients_do_not_wait() -> None:
    h, accounts = held_accounts()
    waiting, other = h.client("alice"), h.client("bob")
    waiting.send(f"OPER root {OPER_PASSWORD}")
    other.send("PING y")
    assert commands(other.lines()) == ["PONG"]
    other.send("PRIVMSG alice :hi")  # delivered at once: messages from others are not replies
    assert commands(waiting.lines()) == ["PRIVMSG"]
    accounts.complete()
    assert commands(waiting.lines()) == ["381", "MODE"]


def test_lines_waiting_in_order_run_in_order() -> None:
    h, accounts = held_accounts()
    c = h.client("alice")
    c.send(f"OPER root {OPER_PASSWORD}")
    c.send("JOIN #a")
    c.send("PING one")
    c.send("STATS u")  # runs after OPER: it sees the new operator
    c.send("PING two")
    accounts.complete()
    got = c.lines()
    assert commands(got) == ["381", "MODE", "JOIN", "353", "366", "PONG", "242", "219", "PONG"]
    assert [m.params[-1] for m in got if m.command == "PONG"] == ["one", "two"]


def test_too_many_waiting_lines_disconnect_with_excess_flood() -> None:
    h, accounts = held_accounts(oper_config(limits={"pending_lines": 3}))
    c = h.client("alice")
    c.send(f"OPER root {OPER_PASSWORD}")
    for i in range(3):
        c.send(f"PING {i}")
    assert not c.link.closed
    c.send("PING 3")
    assert c.link.closed
    assert "Excess Flood" in c.raw()[-1]
    accounts.complete()  # the late answer finds the client gone: nothing is written


def test_refused_lines_wait_in_order_too() -> None:
    """A line the transport refused (too long) is answered in its turn, not before."""
    h, accounts = held_accounts()
    c = h.client("alice")
    c.send(f"OPER root {OPER_PASSWORD}")
    h.server.line_too_long(c.session)
    c.send("PING x")
    assert c.lines() == []
    accounts.complete()
    assert commands(c.lines()) == ["381", "MODE", "417", "PONG"]


def test_sasl_then_cap_end_registers_after_the_answer() -> None:
    h, accounts = held_accounts(account_config())
    owner = h.client("alice")
    owner.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    accounts.complete()
    owner.send("QUIT")
    c = h.connect()
    for line in ("CAP LS 302", "NICK alice", "USER alice 0 * :A", "CAP REQ :sasl"):
        c.send(line)
    c.send("AUTHENTICATE PLAIN")
    c.drain()
    c.send("AUTHENTICATE " + b64(f"\0alice\0{PASSWORD}".encode()))
    c.send("CAP END")
    assert c.lines() == []
    accounts.complete()
    got = commands(c.lines())
    assert got[:3] == ["900", "903", "001"], got


def test_nickserv_logout_confirms_before_the_nick_warning() -> None:
    """The 'log in within N seconds' warning follows 'You are now logged out'."""
    h = Harness(account_config(nick_enforcement="grace"))
    c = registered(h, "alice")
    c.send("PRIVMSG NickServ :LOGOUT")
    texts = [m.params[-1] for m in c.lines()]
    logged_out = texts.index("You are now logged out")
    warning = next(i for i, t in enumerate(texts) if "is registered" in t)
    assert logged_out < warning, texts


def test_kill_with_a_long_reason_stays_within_512_bytes() -> None:
    """Modern IRC: 'messages SHOULD NOT exceed 512 bytes in length, including the trailing
    CR-LF'. FakeLink checks every write; before the fix KILL wrote its line unclipped."""
    h = Harness(oper_config())
    op = opered(h, "alice" + "x" * 15)
    victim = h.client("b" * 20)
    op.send(f"KILL {victim.nick} :" + "r" * 480)
    assert victim.link.closed
    assert any(" KILL " in line for line in victim.raw())


def test_a_client_gone_before_the_answer_gets_nothing() -> None:
    h, accounts = held_accounts()
    c: Client = h.client("alice")
    c.send(f"OPER root {OPER_PASSWORD}")
    c.send("QUIT")
    accounts.complete()  # FakeLink refuses writes after close
    assert c.link.closed


def test_a_failed_check_counts_even_if_the_client_left_before_the_answer() -> None:
    """Dropping the connection right after a guess must not dodge the login throttle."""
    h, accounts = held_accounts()
    c = h.client("alice")
    c.send("OPER root wrong-password")
    h.server.disconnect(c.session, "Connection reset", h.now)
    accounts.complete()
    assert "o:root" in h.server.accounts.throttle.buckets
    assert "a:127.0.0.1" in h.server.accounts.throttle.buckets
