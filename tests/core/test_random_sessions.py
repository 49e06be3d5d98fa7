"""Random sessions: three clients send random sequences of real commands with random params.

After every step the core must not have raised, every written line must follow the wire rules
(FakeLink checks that on each write), and the network's state must be consistent.
"""

from __future__ import annotations

from core_helpers import Client, DeferredHistory, Harness, make_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.core.server import ChatServer

NICKS = ["alice", "Alice", "bob", "b[o]b", "B{O}B", "carol", "1bad", "x" * 31, "*"]
CHANNELS = ["#a", "#A", "#b", "#café", "#", "nochan", "#a,#b", "@#a", "+#b"]
TEXTS = ["hi", "two words", ":colon", "", "x" * 600, "é" * 300, "\x01ACTION waves\x01"]
MODES = ["+o", "-o", "+v", "+b", "-b", "+i", "-i", "+k", "-k", "+l", "-l", "+m", "+n", "-n",
         "+s", "-t", "+z", "+ovb", "b", "+kl", "-ikl"]  # fmt: skip
ARGS = ["alice", "bob", "carol", "nobody", "*!*@*", "2", "0", "²", "key", ""]
NUMBERS = ["0", "1", "2", "10", "-1", "²", "x"]
CAPS = ["server-time", "message-tags", "echo-message", "batch", "labeled-response",
        "draft/chathistory", "draft/event-playback", "multi-prefix", "away-notify",
        "invite-notify", "userhost-in-names", "setname", "-batch", "bogus"]  # fmt: skip
STAMP = "timestamp=2023-11-14T22:13:20.000Z"

TEMPLATES = [
    "NICK {nick}",
    "USER {nick} 0 * :{text}",
    "CAP LS 302",
    "CAP REQ :{cap}",
    "CAP END",
    "PASS {text}",
    "PING :{text}",
    "JOIN {chan}",
    "JOIN {chan} {arg}",
    "JOIN 0",
    "PART {chan} :{text}",
    "TOPIC {chan}",
    "TOPIC {chan} :{text}",
    "NAMES {chan}",
    "LIST",
    "LIST >{num}",
    "KICK {chan} {nick} :{text}",
    "INVITE {nick} {chan}",
    "PRIVMSG {chan} :{text}",
    "PRIVMSG {nick} :{text}",
    "PRIVMSG {nick},{chan} :{text}",
    "NOTICE {chan} :{text}",
    "@+draft/reply=x;+y TAGMSG {chan}",
    "@label=L {cmd_with_label}",
    "MODE {chan}",
    "MODE {chan} {mode} {arg} {arg2}",
    "MODE {nick} {mode}",
    "WHO {chan}",
    "WHO {nick}",
    "WHOIS {nick}",
    "WHOWAS {nick} {num}",
    "ISON {nick} {arg}",
    "USERHOST {nick}",
    "AWAY :{text}",
    "AWAY",
    "SETNAME :{text}",
    "CHATHISTORY LATEST {chan} * {num}",
    "CHATHISTORY LATEST {nick} * {num}",
    "CHATHISTORY BEFORE {chan} " + STAMP + " {num}",
    "CHATHISTORY AROUND {chan} msgid={text} {num}",
    "CHATHISTORY TARGETS " + STAMP + " timestamp=2030-01-01T00:00:00.000Z {num}",
    "VERSION",
    "TIME",
    "LUSERS",
    "QUIT :{text}",
    "FROB {text}",
    "",
]
LABELLED = ["PING x", "WHOIS alice", "PRIVMSG #a :hi", "JOIN #b", "CHATHISTORY LATEST #a * 5"]

line_strategy = st.builds(
    lambda template, **fields: template.format(**fields),
    st.sampled_from(TEMPLATES),
    nick=st.sampled_from(NICKS),
    chan=st.sampled_from(CHANNELS),
    text=st.sampled_from(TEXTS),
    mode=st.sampled_from(MODES),
    arg=st.sampled_from(ARGS),
    arg2=st.sampled_from(ARGS),
    num=st.sampled_from(NUMBERS),
    cap=st.sampled_from(CAPS),
    cmd_with_label=st.sampled_from(LABELLED),
)
# A step: a client (0-2) sends a line, or something happens to the world.
step_strategy = st.one_of(
    st.tuples(st.integers(0, 2), line_strategy),
    st.tuples(st.integers(0, 2), st.sampled_from(["!disconnect", "!reconnect", "!long"])),
    st.tuples(st.just(0), st.sampled_from(["!complete", "!tick"])),
)


def client_line(line: str) -> str:
    """What a transport would hand over: at most 510 bytes of text (framing cuts the rest)."""
    data = line.encode()
    return data[:510].decode("utf-8", "ignore") if len(data) > 510 else line


def check_invariants(server: ChatServer, clients: list[Client]) -> None:
    registered = [s for s in server.sessions if s.registered]
    assert server.registered_count == len(registered)
    assert server.invisible_count == sum(s.user.invisible for s in registered)
    for fold, channel in server.channels.items():
        assert fold == channel.fold == server.fold(channel.name)
        assert channel.members, f"empty channel {channel.name}"
        for user in channel.members:
            assert user.channels.get(fold) is channel
            assert user.session.registered
            assert user.session in server.sessions
        assert set(channel.replaying) <= set(channel.members)
        if channel.groups is not None:  # the fan-out cache must match the members as they are
            cached = [sorted(map(id, group)) for group in channel.groups]
            channel.groups = None
            assert cached == [sorted(map(id, g)) for g in channel.writers_by_profile()]
    for session in server.sessions:
        assert not session.closed
        user = session.user
        for fold, channel in user.channels.items():
            assert server.channels.get(fold) is channel
            assert user in channel.members
        if session.registered:
            assert server.users.get(server.fold(user.nick)) is user
    for fold, user in server.users.items():
        assert user.fold == fold == server.fold(user.nick)
        assert user.session in server.sessions
    for c in clients:
        if c.session.closed:
            assert c.link.closed
            assert c.user.channels == {}
            assert c.session not in server.sessions


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step_strategy, min_size=5, max_size=40), deferred=st.booleans())
def test_random_sessions_keep_the_network_consistent(
    steps: list[tuple[int, str]], deferred: bool
) -> None:
    slow = DeferredHistory() if deferred else None
    config = make_config(
        limits={"max_targets": 2, "channels_per_user": 3, "modes_per_command": 2},
        history={"store_events": True, "replay_on_join": 5, "chathistory_max": 5},
    )
    h = Harness(config, history=slow)
    clients = [
        h.client("alice"),
        h.client("bob", caps=["server-time", "message-tags", "batch", "echo-message"]),
        h.client("carol", caps=["labeled-response", "batch", "draft/chathistory"]),
    ]
    h.join("#a", *clients)
    for index, action in steps:
        c = clients[index]
        if action == "!disconnect":
            h.server.disconnect(c.session, "Connection reset", h.now)
        elif action == "!reconnect":
            if c.session.closed:
                clients[index] = h.connect()
        elif action == "!long":
            h.server.line_too_long(c.session)
            h.server.invalid_utf8(c.session)
        elif action == "!complete":
            if slow is not None:
                slow.complete()
        elif action == "!tick":
            h.tick(61)
        else:
            c.send(client_line(action))
        check_invariants(h.server, clients)
        for each in clients:
            each.lines()  # every line written so far parses
    if slow is not None:
        slow.complete()
    check_invariants(h.server, clients)
    h.server.shutdown("bye")
    assert all(c.link.closed for c in clients)
