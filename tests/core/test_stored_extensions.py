"""The core side of issue 15's stored extensions, without sockets: per-client order while a
read marker or metadata change waits on the account worker, and multiline batches' limits.

Specs: https://ircv3.net/specs/extensions/read-marker,
https://ircv3.net/specs/extensions/metadata, https://ircv3.net/specs/extensions/multiline.
"""

from __future__ import annotations

from core_helpers import Client, Harness, only

from hubbub.accounts.memory import MemoryAccountStore
from hubbub.accounts.model import Account, Credentials
from hubbub.registry.memory import MemoryRegistryStore
from hubbub.registry.model import RegisteredChannel
from support.config import core_config
from support.core_services import HeldService

T1 = "2026-01-02T03:04:05.678Z"


def held_accounts() -> tuple[Harness, HeldService[MemoryAccountStore]]:
    store = MemoryAccountStore()
    store.create(Account("alice", "alice", Credentials("x", b"s", 1, b"k", b"k"), "", 0))
    service = HeldService(store)
    return Harness(accounts=service), service


def logged_in(h: Harness, caps: tuple[str, ...]) -> Client:
    client = h.client("alice", caps)
    client.user.account = "alice"  # as a login would (hubbub.core.login is not under test)
    return client


def test_markread_answers_in_order_behind_the_account_worker() -> None:
    """ "The server MUST reply to a successful `MARKREAD` client set command using a `MARKREAD`
    server command" — and, per client, replies come in the order of the commands."""
    h, service = held_accounts()
    alice = logged_in(h, ("draft/read-marker",))
    alice.send(f"MARKREAD #room timestamp={T1}")
    alice.send("PING :after")
    assert alice.raw() == []  # the PONG waits behind the marker
    service.complete()
    assert [m.command for m in alice.lines()] == ["MARKREAD", "PONG"]


def test_join_of_two_channels_keeps_each_marker_before_its_366() -> None:
    """ "The command MUST be sent before the `RPL_ENDOFNAMES` reply for that channel following
    the `JOIN`." — also when a JOIN names several channels and the markers arrive later."""
    h, service = held_accounts()
    alice = logged_in(h, ("draft/read-marker",))
    service.store.set_read_marker("alice", "#b", 1000)
    alice.send("JOIN #a,#b")
    assert alice.raw() == []
    service.complete()
    order = [
        (m.command, m.params[1] if m.command == "366" else m.params[0])
        for m in alice.lines()
        if m.command in ("JOIN", "MARKREAD", "366")
    ]
    assert order == [
        ("JOIN", "#a"),
        ("MARKREAD", "#a"),
        ("366", "#a"),
        ("JOIN", "#b"),
        ("MARKREAD", "#b"),
        ("366", "#b"),
    ]


def test_account_metadata_is_answered_once_saved() -> None:
    """A logged-in user's METADATA SET is kept in the account store before it is answered."""
    h, service = held_accounts()
    alice = logged_in(h, ("draft/metadata-2",))
    alice.send("METADATA * SET avatar :https://a/b.png")
    assert alice.raw() == []
    assert service.store.metadata("alice") == {}
    service.complete()
    assert [m.command for m in alice.lines()] == ["761"]
    assert service.store.metadata("alice") == {"avatar": "https://a/b.png"}


def test_two_changes_of_a_registered_rooms_metadata_saved_at_once_keep_both() -> None:
    """ "SET ... sets the key to the given value": two operators set different keys of a
    registered room, the second before the first is saved (each change computed from the map
    without the other's): the registry and the room keep both keys."""
    store = MemoryRegistryStore()
    store.create_channel(RegisteredChannel("#room", "#room", "alice", 1000, ops=("bob",)))
    service = HeldService(store)
    h = Harness(registry=service)
    service.complete()  # the registered channels, loaded at start
    caps = ("draft/metadata-2",)
    alice, bob = h.client("alice", caps), h.client("bob", caps)
    alice.user.account, bob.user.account = "alice", "bob"  # owner, and on the access list
    h.join("#room", alice, bob)
    alice.send("METADATA #room SET color :teal")
    bob.send("METADATA #room SET homepage :https://room.example")
    assert alice.raw() == [] and bob.raw() == []  # both wait for the registry
    service.complete()
    assert [m.params[-3:] for m in only(alice.lines(), "761")] == [("color", "*", "teal")]
    assert [m.params[-1] for m in only(bob.lines(), "761")] == ["https://room.example"]
    both = {"color": "teal", "homepage": "https://room.example"}
    assert store.channel_metadata() == {"#room": both}
    channel = h.server.channels["#room"]
    assert channel.metadata == both


def test_multiline_lines_past_the_limit_refuse_the_batch_and_relay_nothing() -> None:
    """ "`MULTILINE_MAX_LINES <limit>`: `max-lines` limit exceeded" — and nothing of the batch
    reaches anyone; a command sent while the batch is open is answered at once."""
    config = core_config(limits={"multiline_max_lines": 2})
    h = Harness(config)
    alice = h.client("alice", ("draft/multiline", "batch"))
    bob = h.client("bob")
    h.join("#room", alice, bob)
    alice.send("BATCH +x draft/multiline #room")
    alice.send("@batch=x PRIVMSG #room :one")
    alice.send("PING :middle")
    assert [m.command for m in alice.lines()] == ["PONG"]
    alice.send("@batch=x PRIVMSG #room :two")
    alice.send("@batch=x PRIVMSG #room :three")
    fails = only(alice.lines(), "FAIL")
    assert [tuple(m.params[1:3]) for m in fails] == [("MULTILINE_MAX_LINES", "2")]
    alice.send("@batch=x PRIVMSG #room :four")
    alice.send("BATCH -x")
    assert alice.lines() == [] and bob.lines() == []
