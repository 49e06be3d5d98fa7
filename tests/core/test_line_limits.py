"""Every line the core writes is within the wire limits, whatever a client sends.

RFC 2812, 2.3 (kept by Modern IRC, https://modern.ircdocs.horse/#message-format): "IRC
messages are always lines of characters terminated with a CR-LF (Carriage Return - Line Feed)
pair, and these messages SHALL NOT exceed 512 characters in length, counting all characters
including the trailing CR-LF." IRCv3 message-tags (https://ircv3.net/specs/extensions/
message-tags): "The size limit for message tags is 8191 bytes, including the leading '@'
(0x40) and trailing space ' ' (0x20) characters."

Every command of the core's command table is driven with maximal-length parameters: lines
filled to 510 bytes, the longest nicks, channel names, reasons, topics and masks the config
allows, non-ASCII text, a long label, from clients with and without every capability and from
an operator. The harness's links check every write (`support.wire.check_write`: at most 512
bytes without tags, tags at most 8191 bytes, valid UTF-8, no NUL/CR/LF inside, well formed),
so any line over the limit, to any client, fails the example.
"""

from __future__ import annotations

import dataclasses

import pytest
from core_helpers import Client, Harness
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from oper_helpers import OPER_PASSWORD, oper_config

from hubbub.config import Config
from hubbub.core.caps import CAPABILITIES
from hubbub.core.commands import COMMANDS

MAX_INPUT = 510  # bytes of one client line without its CRLF (and without its tags)
NICK_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ[]{}|^_`-\\"
LONG_HOST = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
# Text with one-, two-, three- and four-byte characters, so clipping meets every boundary.
# No spaces, no commas, never empty: a parameter with a space, an empty one, or an empty item
# of a comma list, echoed as a middle parameter, is a different defect with its own test below.
WORDS = ["x", "é", "語", "🦜", "\x01ACTION", "*!*@*", "~", "x:colon"]

# The shipped limits, and every length limit raised as far as a line can still hold it.
CONFIGS = {
    "defaults": {},
    "long": {
        "limits": {
            "nick_length": 64,
            "user_length": 32,
            "channel_length": 200,
            "topic_length": 510,
            "kick_length": 510,
            "away_length": 510,
        }
    },
}


def long_name(first: str, length: int, salt: int) -> str:
    """A valid name of exactly `length` characters, different for each salt."""
    body = "".join(NICK_CHARS[(salt * 7 + i * 13) % len(NICK_CHARS)] for i in range(length))
    return first + body[: length - 1]


@dataclasses.dataclass
class World:
    """A harness with a full channel: an operator, a client with every capability, a plain one."""

    h: Harness
    op: Client
    peer: Client
    plain: Client
    channel: str
    msgid: str

    def sender(self, name: str) -> Client:
        return {"op": self.op, "peer": self.peer, "plain": self.plain}[name]


def make_world(config_name: str) -> World:
    config: Config = oper_config(**CONFIGS[config_name])
    h = Harness(config)
    limits = config.limits
    caps = sorted(name for name in CAPABILITIES if name != "sasl")
    op = registered(h, long_name("O", limits.nick_length, 1), caps)
    op.send(f"OPER root {OPER_PASSWORD}")
    assert "381" in op.numerics()
    peer = registered(h, long_name("P", limits.nick_length, 2), caps)
    plain = registered(h, long_name("Q", limits.nick_length, 3), ())
    channel = "#" + ("chän語" * limits.channel_length)[: limits.channel_length - 1]
    while len(channel.encode()) > limits.channel_length:
        channel = channel[:-1]
    h.join(channel, op, peer, plain)
    assert {m.nick for m in h.channel(channel).members} == {op.nick, peer.nick, plain.nick}
    op.send(f"TOPIC {channel} :" + "t" * limits.topic_length)
    op.send(f"MODE {channel} +b {long_name('B', 40, 4)}!*@*.example.org")
    peer.send(f"PRIVMSG {channel} :a message to redact")
    echoed = [m for m in peer.lines() if m.command == "PRIVMSG"]
    assert echoed and "msgid" in echoed[-1].tags, echoed
    h.drain()
    return World(h, op, peer, plain, channel, echoed[-1].tags["msgid"])


def registered(h: Harness, nick: str, caps: list[str] | tuple[str, ...]) -> Client:
    c = h.connect(LONG_HOST)
    if caps:
        c.send("CAP LS 302")
    c.send(f"NICK {nick}")
    c.send(f"USER {nick.lower()} 0 * :" + "r" * 100)
    if caps:
        c.send("CAP REQ :" + " ".join(caps))
        c.send("CAP END")
    got = c.lines()
    assert any(m.command == "001" for m in got), got
    return c


# First parameters that reach each command's real work (the rest is filled in at random).
HEADS: dict[str, list[list[str]]] = {
    "AUTHENTICATE": [["PLAIN"], ["SCRAM-SHA-256"], ["+"]],
    "CAP": [["LS", "302"], ["LIST"], ["REQ"]],
    "CHATHISTORY": [
        ["LATEST", "{channel}", "*", "100"],
        ["BEFORE", "{channel}", "timestamp=2030-01-01T00:00:00.000Z", "100"],
        ["AROUND", "{channel}", "msgid={msgid}", "100"],
        ["TARGETS", "timestamp=2000-01-01T00:00:00.000Z", "timestamp=2030-01-01T00:00:00.000Z"],
        ["LATEST", "{plain}", "*", "100"],
    ],
    "DLINE": [["1h", "192.0.2.0/24"], ["192.0.2.1"]],
    "INVITE": [["{plain}", "{channel}"], ["nobody", "{channel}"]],
    "KICK": [["{channel}", "{plain}"], ["{channel}", "nobody"]],
    "KILL": [["{plain}"], ["{peer}"], ["nobody"]],
    "KLINE": [["1h", "*@" + "k" * 60 + ".example.org"], ["*@192.0.2.*"]],
    "MODE": [
        ["{channel}", "+b"],
        ["{channel}", "+k"],
        ["{channel}", "+o", "{plain}"],
        ["{channel}", "+bbb"],
        ["{channel}"],
        ["{self}", "+i"],
    ],
    "NICK": [["{newnick}"]],
    "NOTICE": [["{channel}"], ["{plain}"], ["{peer},{plain}"]],
    "OPER": [["root"], ["nobody"]],
    "PRIVMSG": [["{channel}"], ["{plain}"], ["{peer},{plain},{channel}"], ["nobody"]],
    "REDACT": [["{channel}", "{msgid}"], ["{plain}", "{msgid}"]],
    "REGISTER": [["*", "*"], ["{self}", "someone@example.org"]],
    "STATS": [["k"], ["d"], ["o"], ["u"], ["l"], ["m"]],
    "TAGMSG": [["{channel}"], ["{plain}"]],
    "TOPIC": [["{channel}"]],
    "UNDLINE": [["192.0.2.0/24"]],
    "UNKLINE": [["*@192.0.2.*"]],
    "USER": [["u", "0", "*"]],
    "VERIFY": [["{self}", "123456"]],
    "WHO": [["{channel}"], ["{plain}"], ["*"], ["{channel}", "%tcuhnfdar,123"]],
    "WHOIS": [["{plain}"], ["{peer}", "{peer}"], ["nobody"]],
    "WHOWAS": [["{plain}"], ["nobody"]],
}
SENDERS = ["op", "peer", "plain"]
# Trailing parameters with a space (the mark) or empty: neither may come back in a middle one.
SPACE_MARK = "sp ace"
SPACED = [SPACE_MARK, f"語 {SPACE_MARK}🦜", "", ","]


def fill(text: str, budget: int) -> str:
    """`text` repeated and cut so that its UTF-8 form is at most `budget` bytes (never a split
    character)."""
    if budget <= 0 or not text:
        return ""
    out = (text * (budget // max(1, len(text.encode())) + 1)).encode()[:budget]
    return out.decode("utf-8", "ignore")


@st.composite
def case(draw: st.DrawFn, name: str, spaced: bool = False) -> tuple[str, str]:
    """(sender, line) for command `name`: its first parameters, some random words, and a
    trailing parameter that fills the line up to 510 bytes (or a random length). `spaced`:
    the trailing parameter has spaces in it, or is empty."""
    sender = draw(st.sampled_from(SENDERS))
    head = draw(st.sampled_from(HEADS.get(name, [[]])))
    middles = draw(st.lists(st.sampled_from([*WORDS[:4], "{plain}", "{channel}"]), max_size=3))
    texts = SPACED if spaced else [*WORDS, "".join(WORDS)]
    trailing_text = draw(st.sampled_from(texts))
    maximal = draw(st.booleans()) or draw(st.booleans())  # mostly filled to the limit
    label = draw(st.sampled_from(["", "l" * 64, "é" * 100]))
    start = " ".join([name, *head, *middles])
    budget = MAX_INPUT - len(start.encode()) - 2
    # At least one whole character unless spaced (4 bytes: the widest UTF-8 character).
    size = budget if maximal else draw(st.integers(0 if spaced else 4, max(4, budget)))
    line = f"{start} :{fill(trailing_text, size)}"
    if label:
        line = f"@label={label};+draft/reply={'r' * 200} {line}"
    return sender, line


def maximal_lines(name: str, spaced: bool) -> list[str]:
    """The command with each of its first parameters and a trailing one filling the line to
    510 bytes: the examples every run tries first, whatever hypothesis draws."""
    texts = SPACED if spaced else ["".join(WORDS), "é"]
    out = []
    for head in HEADS.get(name, [[]]):
        start = " ".join([name, *head])
        out += [f"{start} :{fill(text, MAX_INPUT - len(start.encode()) - 2)}" for text in texts]
        if not spaced:
            out.append(f"{start} :{{echo_fit}}")
    return out


def echo_fit(world: World, sender: Client) -> int:
    """The length of a parameter that, echoed in a numeric reply to `sender` (`:server 401
    nick <parameter> :text`), ends exactly where a line must be cut: the hardest case for
    clipping."""
    numeric = f":{world.h.config.server.name} 401 {sender.nick} "
    return MAX_INPUT - len(numeric.encode()) - 1


def expand(world: World, sender: Client, line: str) -> str:
    """Put the world's names into a drawn line, then cut it back to 510 bytes of message."""
    text = (
        line.replace("{channel}", world.channel)
        .replace("{plain}", world.plain.nick)
        .replace("{peer}", world.peer.nick)
        .replace("{self}", sender.nick)
        .replace("{msgid}", world.msgid)
        .replace("{newnick}", long_name("N", world.h.config.limits.nick_length, 5))
        .replace("{echo_fit}", "x" * echo_fit(world, sender))
    )
    tags, space, message = text.partition(" ") if text.startswith("@") else ("", "", text)
    message = message.encode()[:MAX_INPUT].decode("utf-8", "ignore")
    return f"{tags}{space}{message}"


def command_params() -> list[object]:
    return [pytest.param(name, id=name) for name in sorted(COMMANDS)]


def drive(name: str, config_name: str, spaced: bool) -> None:
    """Run the examples for one command; FakeLink checks every write of every one."""

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples every run: a failure is reproducible
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(drawn=st.lists(case(name, spaced), min_size=1, max_size=3))
    def run(drawn: list[tuple[str, str]]) -> None:
        world = make_world(config_name)
        for sender_name, line in drawn:
            sender = world.sender(sender_name)
            if sender.link.closed:
                continue
            sender.send(expand(world, sender, line))  # every write is checked by FakeLink
        world.h.tick(1.0)
        world.h.server.tick(world.h.now)
        if spaced:
            for client in world.h.clients:
                for raw in client.link.data().decode().split("\r\n"):
                    body = raw.partition(" ")[2] if raw.startswith("@") else raw
                    middle = body.partition(" :")[0]
                    assert SPACE_MARK not in middle, f"a spaced parameter echoed: {raw!r}"

    for line in maximal_lines(name, spaced):
        run = example(drawn=[("op", line)])(run)
    run()


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("name", command_params())
def test_every_line_written_is_within_the_limits(name: str, config_name: str) -> None:
    drive(name, config_name, spaced=False)


@pytest.mark.parametrize("name", command_params())
def test_a_parameter_with_spaces_or_empty_is_never_echoed_as_a_middle_one(name: str) -> None:
    """RFC 2812, 2.3.1: `params = *14( SPACE middle ) [ SPACE ":" trailing ]` with
    `middle = nospcrlfcl *( ":" / nospcrlfcl )`: only the trailing parameter may contain a
    space or be empty (https://modern.ircdocs.horse/#parameters). A client's last parameter may
    be either, or a comma list with empty items; echoed back in a middle position (403
    <channel>, say) it splits or empties a parameter of the reply."""
    drive(name, "defaults", spaced=True)


SERVICES = ("NickServ", "ChanServ", "HistServ")


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(
    service=st.sampled_from(SERVICES),
    sub=st.sampled_from(["HELP", "INFO", "EXPORT", "REGISTER", "IDENTIFY", "SET", "X"]),
    word=st.sampled_from(WORDS),
)
def test_services_answer_within_the_limits(service: str, sub: str, word: str) -> None:
    """The services answer in notices that quote what they were sent (a channel, an account,
    an unknown command): every notice fits 512 bytes too (FakeLink checks every write)."""
    world = make_world("long")
    head = f"PRIVMSG {service} :{sub} {world.channel} "
    world.op.send(expand(world, world.op, head + fill(word, MAX_INPUT - len(head.encode()))))
    world.peer.send(f"PRIVMSG {service} :{sub} " + word * 200)
    world.h.drain()
