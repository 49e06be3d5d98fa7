"""A stateful fuzz target for the sans-IO core (issue 11, continuous assurance).

Hypothesis drives several clients of one core (the `tests/core` harness: no sockets, no clock)
with random sequences of valid commands, invalid ones and garbage, plus disconnects, reconnects
and time passing. After every step the network must be consistent:

* no exception escaped the core;
* every line written to a client follows the wire rules — CRLF, at most 512 bytes without
  tags, tags within 8191, no NUL/CR/LF inside, parseable (`FakeLink` checks each write);
* membership is symmetric (a user is in a channel exactly when the channel is in the user);
* no nick is held twice, and the nick table matches the users;
* the channel budget (hubbub.core.budget) counts exactly the rooms each address created;
* every stored message is replayable: a member who may read it gets it from CHATHISTORY.

The normal suite runs a short campaign; `scripts/fuzz` sets HUBBUB_FUZZ=long (and optionally
HUBBUB_FUZZ_EXAMPLES) for a long one.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from core.core_helpers import Client, Harness, make_config  # tests/ is on sys.path
from hubbub.core.privacy import channel_floor

LONG = os.environ.get("HUBBUB_FUZZ") == "long"
EXAMPLES = int(os.environ.get("HUBBUB_FUZZ_EXAMPLES", "5000" if LONG else "100"))
STEPS = 150 if LONG else 50
CLIENTS = 5

NICKS = ["alice", "Alice", "bob", "b[o]b", "B{O}B", "carol", "dave", "1bad", "x" * 40, "*", ""]
CHANNELS = ["#a", "#A", "#b", "#c", "#café", "#", "nochan", "#a,#b", "#a,#b,#c,#d,#e"]
TEXTS = ["hi", "two words", ":colon", "", "x" * 600, "é" * 300, "\x01ACTION waves\x01", "\x00"]
MODES = ["+o", "-o", "+v", "+b", "-b", "+i", "-i", "+k", "-k", "+l", "-l", "+m", "+s", "-s",
         "+t", "+ovb", "b", "+kl", "-ikl", "+bbbbb"]  # fmt: skip
ARGS = ["alice", "bob", "carol", "nobody", "*!*@*", "*a*a*a*a*a*c!*@*", "2", "0", "key", ""]
NUMBERS = ["0", "1", "5", "100", "-1", "x"]
CAPS = ["server-time", "message-tags", "echo-message", "batch", "labeled-response",
        "draft/chathistory", "draft/message-redaction", "multi-prefix", "-batch",
        "bogus"]  # fmt: skip
STAMP = "timestamp=2023-11-14T22:13:20.000Z"
TEMPLATES = [
    "NICK {nick}",
    "USER {nick} 0 * :{text}",
    "CAP LS 302",
    "CAP REQ :{cap}",
    "CAP END",
    "JOIN {chan}",
    "JOIN {chan} {arg}",
    "JOIN 0",
    "PART {chan} :{text}",
    "PRIVMSG {chan} :{text}",
    "PRIVMSG {nick} :{text}",
    "PRIVMSG {nick},{chan} :{text}",
    "NOTICE {chan} :{text}",
    "@+typing=active TAGMSG {chan}",
    "@label=L PING {text}",
    "MODE {chan}",
    "MODE {chan} {mode} {arg} {arg}",
    "MODE {nick} {mode}",
    "KICK {chan} {nick} :{text}",
    "INVITE {nick} {chan}",
    "TOPIC {chan}",
    "TOPIC {chan} :{text}",
    "NAMES {chan}",
    "LIST",
    "WHO {arg}",
    "WHO {nick} %cnuhraf",
    "WHOIS {nick}",
    "WHOWAS {nick} {num}",
    "CHATHISTORY LATEST {chan} * {num}",
    "CHATHISTORY LATEST {nick} * {num}",
    "CHATHISTORY BEFORE {chan} " + STAMP + " {num}",
    "CHATHISTORY AROUND {chan} msgid={text} {num}",
    "CHATHISTORY TARGETS " + STAMP + " timestamp=2030-01-01T00:00:00.000Z {num}",
    "REDACT {chan} {text}",
    "QUIT :{text}",
    "FROB {text}",
]
valid_lines = st.builds(
    lambda template, **fields: template.format(**fields),
    st.sampled_from(TEMPLATES),
    nick=st.sampled_from(NICKS),
    chan=st.sampled_from(CHANNELS),
    text=st.sampled_from(TEXTS),
    mode=st.sampled_from(MODES),
    arg=st.sampled_from(ARGS),
    num=st.sampled_from(NUMBERS),
    cap=st.sampled_from(CAPS),
)
# What a transport hands over: a decoded line without CR or LF (framing removed them).
garbage_lines = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=300,
)
tagged_garbage = st.builds(lambda tags, rest: f"@{tags} {rest}", garbage_lines, valid_lines)
lines = st.one_of(valid_lines, valid_lines, garbage_lines, tagged_garbage)
client_indexes = st.integers(0, CLIENTS - 1)


def as_framed(line: str) -> str:
    """A transport never hands over more than 510 bytes of message (8191 more for tags)."""
    if line.startswith("@"):
        tags, _, rest = line.partition(" ")
        data = rest.encode()
        return tags[:8190] + " " + data[:510].decode("utf-8", "ignore")
    data = line.encode()
    return data[:510].decode("utf-8", "ignore")


class CoreMachine(RuleBasedStateMachine):
    """Several clients of one core, sending whatever Hypothesis makes up."""

    harness: Harness
    clients: list[Client]

    @initialize()
    def start(self) -> None:
        config = make_config(
            limits={"channels_per_user": 4, "channels_per_address": 6, "max_channels": 8},
            history={"store_events": True, "replay_on_join": 5, "chathistory_max": 20},
        )
        self.harness = Harness(config)
        self.clients = [self.harness.connect(host=f"192.0.2.{i % 3}") for i in range(CLIENTS)]
        # A populated start: three of them registered (one with history caps) and in #a, the
        # others mid-registration, so short runs reach the interesting states.
        for index, nick in enumerate(("alice", "bob", "carol")):
            self.register(index, nick)
            self.join(index, "#a")
        self.harness.drain()

    @rule(index=client_indexes, line=lines)
    def send(self, index: int, line: str) -> None:
        client = self.clients[index]
        client.send(as_framed(line))
        client.lines()  # every line written so far parses

    @rule(index=client_indexes, nick=st.sampled_from(NICKS[:7]))
    def register(self, index: int, nick: str) -> None:
        client = self.clients[index]
        client.send("CAP LS 302")
        client.send("CAP REQ :draft/chathistory batch server-time message-tags echo-message")
        client.send(f"NICK {nick}")
        client.send(f"USER {nick.lower()} 0 * :{nick}")
        client.send("CAP END")
        client.drain()

    @rule(index=client_indexes, channel=st.sampled_from(["#a", "#b", "#c", "#d", "#e"]))
    def join(self, index: int, channel: str) -> None:
        self.clients[index].send(f"JOIN {channel}")

    @rule(index=client_indexes, channel=st.sampled_from(["#a", "#b", "#c"]))
    def part(self, index: int, channel: str) -> None:
        self.clients[index].send(f"PART {channel}")

    @rule(index=client_indexes, to=st.sampled_from(["#a", "#b", "alice", "bob"]))
    def say(self, index: int, to: str) -> None:
        self.clients[index].send(f"PRIVMSG {to} :hello {index}")

    @rule(index=client_indexes)
    def disconnect(self, index: int) -> None:
        h = self.harness
        h.server.disconnect(self.clients[index].session, "Connection reset", h.now)

    @rule(index=client_indexes)
    def reconnect(self, index: int) -> None:
        if self.clients[index].session.closed:
            self.clients[index] = self.harness.connect(host=f"192.0.2.{index % 3}")

    @rule(index=client_indexes)
    def refused_input(self, index: int) -> None:
        session = self.clients[index].session
        self.harness.server.line_too_long(session)
        self.harness.server.invalid_utf8(session)

    @rule(seconds=st.sampled_from([0.001, 1.0, 61.0]))
    def time_passes(self, seconds: float) -> None:
        self.harness.tick(seconds)
        self.harness.server.tick(self.harness.now)

    @precondition(lambda self: bool(self.harness.store.latest("#a", 1)))
    @rule(pick=st.integers(0, 1000))
    def stored_message_is_replayable(self, pick: int) -> None:
        """A member who may read #a (and asks with CHATHISTORY) gets any message it may read."""
        server = self.harness.server
        channel = server.find_channel("#a")
        if channel is None:
            return
        for client in self.clients:
            user = client.user
            if not client.session.has("draft/chathistory") or user not in channel.members:
                continue
            floor = channel_floor(server, channel, user)
            if floor is None:
                continue
            records = [
                r
                for r in self.harness.store.latest(channel.fold, 1000)
                if r.time_ms >= floor and r.command in ("PRIVMSG", "NOTICE")
            ]
            if not records:
                return
            record = records[pick % len(records)]
            client.drain()
            client.send(f"CHATHISTORY AROUND #a msgid={record.msgid} 1")
            got = [m.tags.get("msgid") for m in client.lines()]
            assert record.msgid in got, (record, got)
            return

    @invariant()
    def network_is_consistent(self) -> None:
        server = self.harness.server
        registered = [s for s in server.sessions if s.registered]
        assert server.registered_count == len(registered)
        nicks = [s.user.fold for s in registered]
        assert len(nicks) == len(set(nicks)), f"a nick held twice: {nicks}"
        for fold, user in server.users.items():
            assert user.fold == fold == server.fold(user.nick)
            assert user.session in server.sessions
        for session in registered:
            assert server.users.get(session.user.fold) is session.user
        for fold, channel in server.channels.items():
            assert fold == channel.fold
            for user in channel.members:
                assert user.channels.get(fold) is channel, "membership is not symmetric"
        for session in server.sessions:
            for fold, channel in session.user.channels.items():
                assert server.channels.get(fold) is channel
                assert session.user in channel.members, "membership is not symmetric"
        created: dict[str, int] = {}
        for channel in server.channels.values():
            if channel.creator_address:
                created[channel.creator_address] = created.get(channel.creator_address, 0) + 1
        assert created == server.channels_by_address
        for client in self.clients:
            if client.session.closed:
                assert client.link.closed and client.user.channels == {}

    def teardown(self) -> None:
        if hasattr(self, "harness"):
            self.harness.server.shutdown("bye")
            assert all(c.link.closed for c in self.clients)


def _settings() -> Any:
    return settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


CoreMachine.TestCase.settings = _settings()
TestCore = CoreMachine.TestCase
