"""IRC operators in the core: OPER, KILL, K-lines and D-lines (with a controllable clock),
WALLOPS, STATS, REHASH, and that no password reaches the log."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from core_helpers import Harness, one, only
from oper_helpers import OPER_PASSWORD, oper_config, oper_hash, opered

from hubbub.config import ConfigError, Operator
from hubbub.config.loader import load_config
from hubbub.core.bans import parse_duration
from hubbub.core.liveconfig import live_config
from hubbub.registry.model import ServerBan
from support.core_services import SyncService


@pytest.fixture
def h() -> Harness:
    return Harness(oper_config())


def bans(h: Harness) -> list[tuple[str, str]]:
    store = h.server.registry.service.store  # type: ignore[attr-defined]
    return [(b.kind, b.mask) for b in store.bans()]


# -- OPER ---------------------------------------------------------------------------------------


def test_oper_success_sets_mode_and_whois(h: Harness) -> None:
    alice = h.client("alice")
    alice.send(f"OPER ROOT {OPER_PASSWORD}")  # the name is case-insensitive
    got = alice.lines()
    assert [m.command for m in got] == ["381", "MODE"]
    assert got[1].params == ("alice", "+o")
    assert alice.user.oper == "root"
    bob = h.client("bob")
    bob.send("WHOIS alice")
    assert "313" in bob.numerics()
    bob.send("WHO alice")
    assert one(bob.lines(), "352").params[6] == "H*"
    alice.send("MODE alice")
    assert one(alice.lines(), "221").params[1] == "+o"
    alice.send("MODE alice -o")
    assert alice.lines()[0].params == ("alice", "-o") and not alice.user.oper
    alice.send("MODE alice +o")  # only OPER gives it
    assert alice.raw() == [] and not alice.user.oper


def test_oper_refusals(h: Harness) -> None:
    c = h.client("carol")
    c.send("OPER root wrong-password")
    assert c.numerics() == ["464"]
    c.send(f"OPER nobody {OPER_PASSWORD}")
    assert c.numerics() == ["464"]  # an unknown name looks like a wrong password
    assert not c.user.oper


def test_oper_host_mask(tmp_path: Path) -> None:
    h = Harness(oper_config(Operator("root", oper_hash(), "*@192.0.2.*")))
    c = h.client("dave")  # from 127.0.0.1
    c.send(f"OPER root {OPER_PASSWORD}")
    assert c.numerics() == ["491"]
    remote = h.connect(host="192.0.2.44")
    remote.send("NICK erin")
    remote.send("USER erin 0 * :Erin")
    remote.drain()
    remote.send(f"OPER root {OPER_PASSWORD}")
    assert "381" in remote.numerics()


def test_oper_attempts_are_throttled() -> None:
    h = Harness(oper_config(accounts={"login_attempts": 2}))
    c = h.client("mallory")
    for _ in range(2):
        c.send("OPER root guess")
        assert c.numerics() == ["464"]
    c.send(f"OPER root {OPER_PASSWORD}")  # even the right password: the bucket is empty
    assert "Too many failed attempts" in c.raw()[0]
    assert not c.user.oper
    c.send("OPER root guess")
    c.send("OPER root guess")
    assert c.link.closed  # the third refused attempt disconnects
    h.tick(120)
    ok = h.client("oscar")
    ok.send(f"OPER root {OPER_PASSWORD}")
    assert "381" in ok.numerics()


def test_non_opers_get_481(h: Harness) -> None:
    c = h.client("bob")
    for line in ("KILL alice :x", "KLINE *@x :y", "DLINE 1.2.3.4", "UNKLINE *@x", "WALLOPS :hi",
                 "STATS u", "REHASH"):  # fmt: skip
        c.send(line)
        assert c.numerics() == ["481"], line


# -- KILL, WALLOPS, STATS -------------------------------------------------------------------------


def test_kill(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hubbub")
    op = opered(h, "alice")
    bob, carol = h.client("bob"), h.client("carol")
    h.join("#room", op, bob, carol)
    op.send("KILL bob :spamming")
    got = bob.raw()
    assert got[0].startswith(":alice!~alice@127.0.0.1 KILL bob :spamming")
    assert got[-1].startswith("ERROR :Closing link") and bob.link.closed
    quit_line = one(carol.lines(), "QUIT")
    assert quit_line.params == ("Killed by alice (spamming)",)
    assert any("Killed bob (spamming)" in line for line in op.raw())
    assert "oper root KILLed bob (spamming)" in caplog.text
    op.send("KILL nobody :x")
    assert op.numerics() == ["401"]
    op.send("KILL NickServ :x")
    assert op.numerics() == ["483"]


def test_wallops_goes_to_plus_w_users_and_opers(h: Harness) -> None:
    op = opered(h, "alice")
    other_op = opered(h, "olga")
    wants, not_wanted = h.client("bob"), h.client("carol")
    wants.send("MODE bob +w")
    assert wants.lines()[0].params == ("bob", "+w")
    op.send("WALLOPS :server restart at noon")
    for c in (wants, other_op):
        line = one(c.lines(), "WALLOPS")
        assert line.params == ("server restart at noon",) and line.source.startswith("alice!")
    assert not_wanted.raw() == []


def test_stats(h: Harness) -> None:
    op = opered(h, "alice")
    h.client("bob")
    h.tick(3725)
    op.send("STATS u")
    got = op.lines()
    assert [m.command for m in got] == ["242", "219"]
    assert got[0].params[1] == "Server Up 0 days 1:02:05"
    op.send("KLINE 10 *@192.0.2.1 :bad bot")
    op.send("DLINE 2h 198.51.100.0/24 :flood")
    op.drain()
    op.send("STATS k")
    got = op.lines()
    assert [m.command for m in got] == ["216", "219"]
    assert got[0].params[1:] == ("K", "*@192.0.2.1", "600", "root", "bad bot")
    op.send("STATS d")
    assert op.lines()[0].params[1:] == ("D", "198.51.100.0/24", "7200", "root", "flood")
    op.send("STATS o")
    assert op.lines()[0].params[1:] == ("O", "*@*", "*", "root")
    op.send("STATS l")
    got = op.lines()
    assert "2 connections: 2 registered" in got[0].params[1]
    assert len(only(got, "211")) == 2 and got[-1].command == "219"


# -- K-lines and D-lines ------------------------------------------------------------------------


def test_kline_refuses_disconnects_and_expires(h: Harness) -> None:
    op = opered(h, "alice")
    victim = h.connect(host="192.0.2.7")
    victim.send("NICK vic")
    victim.send("USER vic 0 * :V")
    victim.drain()
    op.send("KLINE 1 *@192.0.2.* :go away")  # one minute
    assert "K-line added on *@192.0.2.* (1m): go away" in op.raw()[0]
    got = victim.raw()
    assert " 465 vic :You are banned from this server: go away" in got[0]
    assert victim.link.closed
    assert bans(h) == [("K", "*@192.0.2.*")]
    again = h.connect(host="192.0.2.8")
    again.send("NICK vic2")
    again.send("USER vic2 0 * :V")
    got = again.raw()
    assert "465" in got[0] and "001" not in " ".join(got) and again.link.closed
    other = h.client("fine")  # 127.0.0.1
    assert not other.link.closed
    h.tick(61)
    h.server.tick(h.now)
    assert bans(h) == []
    back = h.connect(host="192.0.2.8")
    back.send("NICK vic3")
    back.send("USER vic3 0 * :V")
    assert "001" in back.numerics()


def test_kline_by_nick_and_unkline(h: Harness) -> None:
    op = opered(h, "alice")
    bob = h.client("bob")
    op.send("KLINE bob :bye")  # a nick online: *@its address; operators are spared
    assert bob.link.closed and not op.link.closed
    op.drain()
    op.send("UNKLINE *@127.0.0.1")
    assert "removed" in op.raw()[0]
    op.send("UNKLINE *@127.0.0.1")
    assert "There is no K-line" in op.raw()[0]
    assert not h.client("bob").link.closed  # registers again (h.client checks the 001)


def test_dline_refuses_at_connect_and_expires(h: Harness) -> None:
    op = opered(h, "alice")
    inside = h.connect(host="10.1.2.3")  # not registered yet: D-lines cover every connection
    op.send("DLINE 30s 10.1.0.0/16 :botnet")
    assert inside.link.closed
    refused = h.connect(host="10.1.9.9")
    assert refused.link.closed
    assert refused.raw() == ["ERROR :Closing link: (10.1.9.9) [D-lined: botnet]"]
    assert refused.session not in h.server.sessions
    assert not h.connect(host="10.2.0.1").link.closed
    op.send("DLINE 10.1.2.3 :x")
    assert bans(h) == [("D", "10.1.0.0/16"), ("D", "10.1.2.3/32")]
    op.send("UNDLINE 10.1.2.3")
    h.tick(31)
    h.server.tick(h.now)
    assert bans(h) == []
    assert not h.connect(host="10.1.9.9").link.closed


def test_ban_syntax(h: Harness) -> None:
    op = opered(h, "alice")
    op.send("DLINE not-an-address :x")
    assert "is not an IP address" in op.raw()[0]
    assert parse_duration("90") == 5400 and parse_duration("2d") == 172_800
    assert parse_duration("x") is None and parse_duration("1y") is None


def test_bans_are_loaded_from_the_store() -> None:
    h = Harness(oper_config())
    store = h.server.registry.service.store  # type: ignore[attr-defined]
    store.add_ban(ServerBan("D", "10.9.0.0/16", "old", "root", 0, 0))
    h.rebuild(registry=SyncService(store))
    assert h.connect(host="10.9.1.1").link.closed


# -- REHASH -------------------------------------------------------------------------------------


def test_rehash_picks_up_the_motd_and_a_new_operator(h: Harness) -> None:
    op = opered(h, "alice")
    new = dataclasses.replace(
        h.config,
        server=dataclasses.replace(h.config.server, motd="A brand new MOTD", name="other.name"),
        operators=(*h.config.operators, Operator("newbie", oper_hash("newbie-pass-1"))),
    )
    answers: list[str | None] = []

    def hook(done):  # type: ignore[no-untyped-def]
        answers.append(None)
        h.server.rehash(new)
        done(None)

    h.server.rehash_hook = hook
    op.send("REHASH")
    got = op.raw()
    assert " 382 alice config :Rehashing" in got[0] and "REHASH done" in got[-1]
    assert answers == [None]
    assert h.server.config.server.name == "hubbub.local"  # restart-only: kept
    bob = h.client("bob")
    bob.send("MOTD")
    assert "A brand new MOTD" in " ".join(bob.raw())
    bob.send("OPER newbie newbie-pass-1")
    assert "381" in bob.numerics()
    # An operator whose entry is gone loses +o.
    h.server.rehash(dataclasses.replace(new, operators=new.operators[1:]))
    assert not op.user.oper and op.lines()[-1].params == ("alice", "-o")
    assert bob.user.oper == "newbie"


def test_rehash_without_a_config_file(h: Harness) -> None:
    op = opered(h, "alice")
    op.send("REHASH")
    assert "no configuration to re-read" in op.raw()[0]


def test_live_config_keeps_restart_only_settings() -> None:
    old = oper_config()
    new = dataclasses.replace(
        old,
        server=dataclasses.replace(old.server, casemapping="ascii", motd="x"),
        history=dataclasses.replace(old.history, backend="memory", replay_on_join=3),
    )
    merged, ignored = live_config(old, new)
    assert merged.server.casemapping == "rfc1459" and merged.server.motd == "x"
    assert merged.history.backend == "sqlite" and merged.history.replay_on_join == 3
    assert ignored == ["server.casemapping", "history.backend"]


# -- passwords and the config -------------------------------------------------------------------


def test_oper_password_never_logged(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hubbub")
    c = h.client("alice")
    c.send("OPER root wrong-guess-4242")
    c.send(f"OPER root {OPER_PASSWORD}")
    c.send("KILL alice :done")
    assert "failed OPER attempt" in caplog.text and "oper root: alice" in caplog.text
    assert OPER_PASSWORD not in caplog.text and "wrong-guess-4242" not in caplog.text
    assert oper_hash() not in caplog.text


def test_operators_in_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "h.toml"
    path.write_text(f'[[operators]]\nname = "a"\npassword = "{oper_hash()}"\nhost = "10.0.0.1"\n')
    (entry,) = load_config(path).operators
    assert entry.host == "*@10.0.0.1"
    for body, key in (
        ('name = "a"\npassword = "plain-text-pass"', "operators[0].password"),
        ('password = "$argon2id$x"', "operators[0].name"),
        ('name = "a b"\npassword = "$argon2id$x"', "operators[0].name"),
        ('name = "a"\npassword = "$argon2id$x"\nflags = 1', "operators[0].flags"),
    ):
        path.write_text(f"[[operators]]\n{body}\n")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert info.value.key == key
        assert "plain-text-pass" not in str(info.value)
    path.write_text('[[operators]]\nname = "a"\npassword = "$argon2id$x"\n' * 1
                    + '[[operators]]\nname = "A"\npassword = "$argon2id$y"\n')  # fmt: skip
    with pytest.raises(ConfigError, match="listed twice"):
        load_config(path)
