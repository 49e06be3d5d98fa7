"""SASL (IRCv3 sasl-3.1 and sasl-3.2, https://ircv3.net/specs/extensions/sasl-3.1 and
https://ircv3.net/specs/extensions/sasl-3.2) against a real server over loopback."""

from __future__ import annotations

import base64

from conformance_helpers import PASSWORD, Network, ask, numerics

from support.irc_client import IrcClient

CHUNK = 400


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def negotiating(net: Network, nick: str) -> IrcClient:
    client = net.raw()
    ask(client, "CAP LS 302", f"NICK {nick}", f"USER {nick} 0 * :{nick}", "CAP REQ :sasl")
    return client


def test_the_mechanisms_are_advertised(net: Network) -> None:
    """sasl-3.2: "the server MAY advertise a list of supported mechanisms as the value of the
    sasl capability" (a comma-separated list)."""
    client = net.raw()
    got = ask(client, "CAP LS 302")
    caps = " ".join(line.params[-1] for line in got if line.command == "CAP")
    value = next(item for item in caps.split() if item.startswith("sasl="))
    assert set(value[5:].split(",")) >= {"PLAIN", "SCRAM-SHA-256", "EXTERNAL"}


def test_plain_logs_in_and_answers_before_the_pong(net: Network) -> None:
    """sasl-3.1: "If authentication is successful, the server sends RPL_LOGGEDIN (900) and
    RPL_SASLSUCCESS (903)". Pipelining (a PING right behind AUTHENTICATE) gets the answer
    first: replies come in the order of the commands."""
    net.account("alice").send("QUIT")
    client = net.raw()
    ask(client, "CAP LS 302", "NICK alice", "USER alice 0 * :alice", "CAP REQ :sasl")
    got = ask(client, "AUTHENTICATE PLAIN")
    assert [line.raw for line in got] == ["AUTHENTICATE +"]
    got = ask(client, "AUTHENTICATE " + b64(f"\0alice\0{PASSWORD}".encode()))
    assert [line.command for line in got] == ["900", "903"]
    assert numerics(ask(client, "CAP END"), "001")


def test_a_wrong_password_is_904(net: Network) -> None:
    """sasl-3.1: ERR_SASLFAIL (904) "is sent when the SASL authentication fails because of
    invalid credentials or other errors not explicitly mentioned by other numerics"."""
    net.account("alice").send("QUIT")
    client = negotiating(net, "alice")
    ask(client, "AUTHENTICATE PLAIN")
    got = ask(client, "AUTHENTICATE " + b64(b"\0alice\0not-the-password"))
    assert [line.command for line in got] == ["904"]


def test_an_800_byte_payload_in_two_chunks_then_plus(net: Network) -> None:
    """sasl-3.1: "The response is encoded in Base64 (RFC 4648), then split to 400-byte
    chunks, and each chunk is sent as a separate AUTHENTICATE command. ... If the last chunk
    was exactly 400 bytes long, it must also be followed by AUTHENTICATE + to signal end of
    response." An 800-byte payload is two full chunks and a "+": the server decodes the whole
    of it (here a wrong password: 904, neither 905 nor silence)."""
    net.account("alice").send("QUIT")
    client = negotiating(net, "alice")
    raw = b"\0alice\0" + b"x" * (600 - len(b"\0alice\0"))
    payload = b64(raw)
    assert len(payload) == 2 * CHUNK
    ask(client, "AUTHENTICATE PLAIN")
    assert ask(client, "AUTHENTICATE " + payload[:CHUNK]) == []
    assert ask(client, "AUTHENTICATE " + payload[CHUNK:]) == []
    got = ask(client, "AUTHENTICATE +")
    assert [line.command for line in got] == ["904"]


def test_an_exact_400_byte_login_then_plus(net: Network) -> None:
    """sasl-3.1, as above: a right login whose Base64 is exactly 400 bytes ends with
    "AUTHENTICATE +", and only then is it checked (900, 903)."""
    prefix = b"\0bobby\0"
    password = "p" * (300 - len(prefix))  # 300 bytes -> 400 characters of Base64
    client = net.user("bobby")
    client.send(f"REGISTER * * {password}")
    client.expect("900")
    client.send("QUIT")
    again = negotiating(net, "bobby")
    payload = b64(prefix + password.encode())
    assert len(payload) == CHUNK
    ask(again, "AUTHENTICATE PLAIN")
    assert ask(again, "AUTHENTICATE " + payload) == []
    got = ask(again, "AUTHENTICATE +")
    assert [line.command for line in got] == ["900", "903"]


def test_abort_and_too_long(net: Network) -> None:
    """sasl-3.1: "If the client completes registration (with CAP END, NICK, USER and any
    other necessary messages) while the SASL authentication is still in progress, the server
    SHOULD abort it and send a 906 numeric"; ERR_SASLTOOLONG (905) "is sent when the client
    sends an AUTHENTICATE command with a parameter longer than 400 bytes"; "AUTHENTICATE *"
    aborts (906)."""
    client = negotiating(net, "carol")
    ask(client, "AUTHENTICATE PLAIN")
    assert [line.command for line in ask(client, "AUTHENTICATE " + "A" * 401)] == ["905"]
    ask(client, "AUTHENTICATE PLAIN")
    assert [line.command for line in ask(client, "AUTHENTICATE *")] == ["906"]
    ask(client, "AUTHENTICATE PLAIN")
    got = ask(client, "CAP END")
    assert numerics(got, "906") and numerics(got, "001")


def test_parallel_plain_attempts_from_one_address_are_throttled(net: Network) -> None:
    """Issue 11 #7 over the wire: 8 connections from one address send a wrong SASL PLAIN
    password at once; the throttle takes its token when each attempt arrives, so no more than
    `accounts.login_attempts` (5) are checked and the rest get 904 "Too many" at once."""
    net.account("alice").send("QUIT")
    clients = [negotiating(net, f"p{number}") for number in range(8)]
    for client in clients:
        ask(client, "AUTHENTICATE PLAIN")
    for client in clients:
        client.send("AUTHENTICATE " + b64(b"\0alice\0wrong-guess"))
    answers = [client.expect("904")[-1] for client in clients]
    throttled = [line for line in answers if "Too many" in line.params[-1]]
    assert len(throttled) >= 3
