"""Registration and housekeeping: NICK, USER, PASS, CAP, PING, QUIT, the welcome burst."""

from __future__ import annotations

import pytest
from core_helpers import Harness, make_config, one, only

from hubbub.core.model import Phase


def test_nick_then_user_gets_the_welcome_burst(h: Harness) -> None:
    c = h.connect()
    c.send("NICK alice")
    assert c.lines() == []
    c.send("USER alice 0 * :Alice Example")
    codes = c.numerics()
    assert codes[:5] == ["001", "002", "003", "004", "005"]
    assert {"251", "255", "375", "372", "376"} <= set(codes)
    assert c.session.registered
    assert h.server.find_user("alice") is c.user


def test_user_then_nick_registers_too(h: Harness) -> None:
    c = h.connect()
    c.send("USER alice 0 * :Alice Example")
    assert c.lines() == []
    c.send("NICK alice")
    welcome = c.lines()[0]
    assert welcome.command == "001"
    assert welcome.params[0] == "alice"
    assert "alice!~alice@127.0.0.1" in welcome.params[-1]
    assert c.user.realname == "Alice Example"


def test_isupport_advertises_the_limits() -> None:
    h = Harness(
        make_config(
            server={"network": "TestNet"},
            limits={"nick_length": 20, "max_targets": 3, "modes_per_command": 5},
        )
    )
    c = h.connect()
    c.send("NICK alice")
    c.send("USER alice 0 * :A")
    tokens: dict[str, str] = {}
    for m in only(c.lines(), "005"):
        assert m.params[-1] == "are supported by this server"
        for token in m.params[1:-1]:
            key, _, value = token.partition("=")
            tokens[key] = value
    assert tokens["CASEMAPPING"] == "rfc1459"
    assert tokens["CHANTYPES"] == "#"
    assert tokens["PREFIX"] == "(ov)@+"
    assert tokens["CHANMODES"] == "beI,k,fl,imnst"
    assert tokens["NICKLEN"] == "20"
    assert tokens["CHANNELLEN"] == "64"
    assert tokens["TOPICLEN"] == "390"
    assert tokens["KICKLEN"] == "390"
    assert tokens["AWAYLEN"] == "390"
    assert tokens["MAXTARGETS"] == "3"
    assert tokens["MODES"] == "5"
    assert tokens["CHANLIMIT"] == "#:50"
    assert tokens["NETWORK"] == "TestNet"
    assert tokens["CHATHISTORY"] == "100"
    assert tokens["MSGREFTYPES"] == "msgid,timestamp"


def test_lusers_counts_users_unknowns_and_channels(h: Harness) -> None:
    a = h.client("alice")
    h.client("bob")
    h.connect()  # not registered
    a.send("MODE alice +i")
    a.send("JOIN #room")
    a.drain()
    a.send("LUSERS")
    got = {m.command: m for m in a.lines()}
    assert got["251"].params[-1] == "There are 1 users and 1 invisible on 1 servers"
    assert got["253"].params[1] == "1"
    assert got["254"].params[1] == "1"
    assert got["255"].params[-1] == "I have 2 clients and 0 servers"
    assert got["265"].params[1:3] == ("2", "2")


def test_motd_lines_and_missing_motd() -> None:
    h = Harness(make_config(server={"motd": "line one\nline two"}))
    c = h.client("alice")
    c.send("MOTD")
    got = c.lines()
    assert [m.command for m in got] == ["375", "372", "372", "376"]
    assert [m.params[-1] for m in only(got, "372")] == ["- line one", "- line two"]

    h = Harness(make_config(server={"motd": ""}))
    c = h.connect()
    c.send("NICK bob")
    c.send("USER bob 0 * :B")
    codes = c.numerics()
    assert "422" in codes
    assert "375" not in codes


# ---------------------------------------------------------------------- CAP


def test_cap_ls_302_holds_registration_until_cap_end(h: Harness) -> None:
    c = h.connect()
    c.send("CAP LS 302")
    ls = c.lines()
    assert all(m.command == "CAP" and m.params[:2] == ("*", "LS") for m in ls)
    offered = " ".join(m.params[-1] for m in ls).split()
    assert {"message-tags", "server-time", "batch", "echo-message"} <= set(offered)
    c.send("NICK alice")
    c.send("USER alice 0 * :A")
    assert c.lines() == []
    assert not c.session.registered
    c.send("CAP REQ :server-time message-tags")
    ack = one(c.lines(), "CAP")
    assert ack.params == ("alice", "ACK", "server-time message-tags")
    c.send("CAP END")
    assert c.numerics()[0] == "001"
    assert c.session.caps >= {"server-time", "message-tags", "cap-notify"}


def test_cap_req_is_all_or_nothing(h: Harness) -> None:
    c = h.client("alice")
    c.send("CAP REQ :server-time no-such-cap")
    nak = one(c.lines(), "CAP")
    assert nak.params == ("alice", "NAK", "server-time no-such-cap")
    assert "server-time" not in c.session.caps
    c.send("CAP REQ :server-time echo-message")
    assert one(c.lines(), "CAP").params[1] == "ACK"
    c.send("CAP REQ :-echo-message")
    assert one(c.lines(), "CAP").params[1] == "ACK"
    c.send("CAP LIST")
    listed = one(c.lines(), "CAP")
    assert listed.params[1] == "LIST"
    assert listed.params[-1].split() == ["server-time"]


def test_cap_after_registration_does_not_reregister(h: Harness) -> None:
    c = h.client("alice")
    c.send("CAP LS 302")
    c.send("CAP END")
    assert "001" not in c.numerics()
    assert c.session.registered


def test_unknown_cap_subcommand(h: Harness) -> None:
    c = h.client("alice")
    c.send("CAP FROB")
    assert c.numerics() == ["410"]


# ---------------------------------------------------------------------- PASS


def test_server_password_right() -> None:
    h = Harness(make_config(server={"password": "sesame"}))
    c = h.client("alice", password="sesame")
    assert c.session.registered


@pytest.mark.parametrize("password", [None, "wrong"])
def test_server_password_wrong_or_missing(password: str | None) -> None:
    h = Harness(make_config(server={"password": "sesame"}))
    c = h.connect()
    if password is not None:
        c.send(f"PASS {password}")
    c.send("NICK alice")
    c.send("USER alice 0 * :A")
    got = c.lines()
    assert [m.command for m in got] == ["464", "ERROR"]
    assert c.link.closed
    assert c.session.closed
    assert h.server.users == {}
    assert c.session not in h.server.sessions


def test_pass_after_registration_is_refused(h: Harness) -> None:
    c = h.client("alice")
    c.send("PASS x")
    assert c.numerics() == ["462"]


# ---------------------------------------------------------------------- errors


def test_commands_before_registration_get_451(h: Harness) -> None:
    c = h.connect()
    c.send("JOIN #room")
    c.send("PRIVMSG bob :hi")
    c.send("FROBNICATE")
    assert c.numerics() == ["451", "451", "451"]
    assert h.server.channels == {}


def test_user_twice_gets_462(h: Harness) -> None:
    c = h.client("alice")
    c.send("USER again 0 * :x")
    assert c.numerics() == ["462"]
    c2 = h.connect()
    c2.send("USER a 0 * :x")
    c2.send("USER b 0 * :x")
    assert c2.numerics() == ["462"]


def test_unknown_command_and_missing_params(h: Harness) -> None:
    c = h.client("alice")
    c.send("FROBNICATE x")
    got = c.lines()
    assert one(got, "421").params[1] == "FROBNICATE"
    c.send("KICK #room")
    got = c.lines()
    assert one(got, "461").params[1] == "KICK"
    c2 = h.connect()
    c2.send("USER a 0 *")
    assert c2.numerics() == ["461"]


def test_no_nickname_given(h: Harness) -> None:
    c = h.connect()
    c.send("NICK")
    c.send("NICK :")
    assert c.numerics() == ["431", "431"]


@pytest.mark.parametrize("nick", ["1alice", "a" * 31, "-dash", "al!ce", "al@ce", "é", "#chan"])
def test_erroneous_nicknames(h: Harness, nick: str) -> None:
    c = h.connect()
    c.send(f"NICK {nick}")
    got = one(c.lines(), "432")
    assert got.params[1] == nick
    assert h.server.users == {}


def test_nick_with_space_is_erroneous(h: Harness) -> None:
    c = h.connect()
    c.send("NICK :al ice")
    assert c.numerics() == ["432"]


@pytest.mark.parametrize("nick", ["[bot]", "a_b-c", "x" * 30, "`q`", "\\o|"])
def test_valid_special_nicknames(h: Harness, nick: str) -> None:
    c = h.connect()
    c.send(f"NICK {nick}")
    c.send("USER u 0 * :x")
    assert c.numerics()[0] == "001"


@pytest.mark.parametrize(("taken", "wanted"), [("Alice", "alice"), ("[x]", "{X}"), ("a\\b", "A|B")])
def test_nick_in_use_follows_the_casemapping(h: Harness, taken: str, wanted: str) -> None:
    h.client(taken)
    c = h.connect()
    c.send(f"NICK {wanted}")
    assert one(c.lines(), "433").params[1] == wanted


def test_ascii_casemapping_keeps_brackets_distinct() -> None:
    h = Harness(make_config(server={"casemapping": "ascii"}))
    h.client("[x]")
    c = h.client("{x}")
    assert c.session.registered


def test_nick_is_reserved_while_registering(h: Harness) -> None:
    first = h.connect()
    first.send("NICK alice")
    second = h.connect()
    second.send("NICK alice")
    assert second.numerics() == ["433"]
    first.send("QUIT")
    second.send("NICK alice")
    second.send("USER a 0 * :x")
    assert second.numerics()[0] == "001"


def test_ping_pong(h: Harness) -> None:
    c = h.connect()
    c.send("PING :abc 123")
    pong = one(c.lines(), "PONG")
    assert pong.params == ("hubbub.local", "abc 123")
    c.send("PING")
    assert c.numerics() == ["409"]
    c.send("PONG :whatever")
    assert c.lines() == []


def test_quit_closes_and_tells_the_neighbours(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", a, b)
    a.send("QUIT :gone fishing")
    got = a.lines()
    assert got[-1].command == "ERROR"
    assert "gone fishing" in got[-1].params[0]
    assert a.link.closed
    quit_msg = one(b.lines(), "QUIT")
    assert quit_msg.source == "alice!~alice@127.0.0.1"
    assert quit_msg.params == ("Quit: gone fishing",)
    assert c.lines() == []  # shares no channel
    assert h.server.find_user("alice") is None
    assert [u.nick for u in h.channel("#room").members] == ["bob"]


def test_quit_before_registration(h: Harness) -> None:
    c = h.connect()
    c.send("NICK alice")
    c.send("QUIT")
    assert c.lines()[-1].command == "ERROR"
    assert c.link.closed
    assert h.server.users == {}
    assert h.server.sessions == set()


def test_nick_change_is_broadcast_once_to_neighbours(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#one", a, b)
    h.join("#two", a, b)
    a.send("NICK Alicia")
    mine = one(a.lines(), "NICK")
    assert mine.source == "alice!~alice@127.0.0.1"
    assert mine.params == ("Alicia",)
    assert len(only(b.lines(), "NICK")) == 1
    assert c.lines() == []
    assert h.server.find_user("alicia") is a.user
    assert "alice" not in h.server.users
    # Changing only the case is allowed and keeps the key.
    a.send("NICK ALICIA")
    assert one(a.lines(), "NICK").params == ("ALICIA",)
    assert h.server.users["alicia"] is a.user
    # Someone else may now take the old nick.
    h.client("alice")


def test_nick_change_to_a_taken_nick(h: Harness) -> None:
    a = h.client("alice")
    h.client("bob")
    a.send("NICK BOB")
    assert a.numerics() == ["433"]
    assert a.nick == "alice"


def test_same_nick_again_is_silent(h: Harness) -> None:
    a = h.client("alice")
    a.send("NICK alice")
    assert a.lines() == []


def test_disconnect_before_registration_frees_the_nick(h: Harness) -> None:
    c = h.connect()
    c.send("NICK alice")
    h.server.disconnect(c.session, "Connection reset", h.now)
    assert c.session.phase is Phase.CLOSED
    assert h.server.users == {}
    h.client("alice")
