"""RENAME of a registered channel in the core: the registration follows the room, across a
restart; the members' channel maps and the server's index follow it at once."""

from __future__ import annotations

import pytest
from account_helpers import registered
from core_helpers import Harness
from oper_helpers import oper_config

from hubbub.registry.store import RegistryStore
from support.core_services import SyncService


@pytest.fixture
def h() -> Harness:
    return Harness(oper_config())


def store_of(h: Harness) -> RegistryStore:
    return h.server.registry.service.store  # type: ignore[attr-defined,no-any-return]


def test_registration_follows_the_room_across_a_restart(h: Harness) -> None:
    alice = registered(h, "alice")
    h.join("#old", alice)
    alice.send("PRIVMSG ChanServ :REGISTER #old")
    alice.send("TOPIC #old :kept")
    alice.send("RENAME #old #New :moving")
    assert store_of(h).get_channel("#old") is None
    saved = store_of(h).get_channel("#new")
    assert saved is not None and saved.name == "#New" and saved.owner == "alice"
    assert saved.topic == "kept"
    registry = SyncService(store_of(h))
    accounts = h.server.accounts.service
    h.server.shutdown("restart")
    h.clients.clear()
    h.rebuild(accounts, registry, instance_id="t2")
    channel = h.channel("#new")
    assert channel.name == "#New" and channel.registered is not None
    assert h.server.find_channel("#old") is None


def test_indexes_follow_at_once(h: Harness) -> None:
    alice, bob = h.client("alice"), h.client("bob")
    h.join("#a", alice, bob)
    alice.send("RENAME #a #b")
    channel = h.channel("#b")
    assert h.server.find_channel("#a") is None
    assert alice.user.channels == {"#b": channel} and bob.user.channels == {"#b": channel}
    h.drain()
    bob.send("PRIVMSG #b :hello")
    assert [m.command for m in alice.lines()] == ["PRIVMSG"]


def test_fallback_is_not_charged_to_the_members(h: Harness) -> None:
    alice, bob = h.client("alice"), h.client("bob")
    h.join("#a", alice, bob)
    before = bob.session.output_lines
    alice.send("RENAME #a #b")
    assert bob.session.output_lines == before
