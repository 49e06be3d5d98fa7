"""List modes in the core (hubbub.core.listmodes): +e and +I saved with a registered channel
and back after a restart; extended bans and exceptions combined."""

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


def test_exception_lists_survive_a_restart(h: Harness) -> None:
    alice = registered(h, "alice")
    h.join("#keep", alice)
    alice.send("PRIVMSG ChanServ :REGISTER #keep")
    alice.send("MODE #keep +eI a:friend *!*@guests")
    alice.send("MODE #keep +b m:*!*@loud")
    saved = store_of(h).get_channel("#keep")
    assert saved is not None
    assert [e.mask for e in saved.excepts] == ["a:friend"]
    assert [i.mask for i in saved.invex] == ["*!*@guests"]
    assert [b.mask for b in saved.bans] == ["m:*!*@loud"]
    registry = SyncService(store_of(h))
    accounts = h.server.accounts.service
    h.server.shutdown("restart")
    h.clients.clear()
    h.rebuild(accounts, registry, instance_id="t2")
    channel = h.channel("#keep")
    assert [e.mask for e in channel.excepts] == ["a:friend"]
    assert [i.mask for i in channel.invex] == ["*!*@guests"]
    assert [b.mask for b in channel.bans] == ["m:*!*@loud"]


def test_mute_with_account_inside(h: Harness) -> None:
    op = h.client("op")
    h.join("#room", op)
    op.send("MODE #room +b m:a:shouty")
    assert [b.mask for b in h.channel("#room").bans] == ["m:a:shouty"]
    shouty = registered(h, "shouty")
    h.join("#room", shouty)
    assert shouty.user in h.channel("#room").members  # muted, not banned
    shouty.send("PRIVMSG #room :HI")
    assert shouty.numerics() == ["404"]
    op.send("MODE #room +v shouty")
    h.drain()
    shouty.send("PRIVMSG #room :hi")
    assert shouty.numerics() == []  # voiced members speak through mutes


def test_list_limit_counts_each_list(h: Harness) -> None:
    small = Harness(oper_config(limits={"list_modes": 1}))
    op = small.client("op")
    small.join("#room", op)
    op.send("MODE #room +b one!*@*")
    op.send("MODE #room +e two!*@*")
    op.send("MODE #room +e three!*@*")
    assert op.numerics() == ["478"]


def test_invite_exception_does_not_pass_a_ban(h: Harness) -> None:
    """+I lets a user past +i, not past +b: that is what +e is for."""
    op = h.client("op")
    h.join("#room", op)
    op.send("MODE #room +iI guest!*@*")
    op.send("MODE #room +b guest!*@*")
    guest = h.client("guest")
    guest.send("JOIN #room")
    assert guest.numerics() == ["474"]
    op.send("MODE #room +e guest!*@*")
    guest.send("JOIN #room")
    assert guest.user in h.channel("#room").members
