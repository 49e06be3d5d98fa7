"""The RegistryStore contract (registered channels, server bans), identically on memory and
SQLite; SQLite specifics: reopening, sharing the history file, schema version."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from hubbub.accounts.sqlite import SCHEMA_VERSION as ACCOUNTS_SCHEMA
from hubbub.accounts.sqlite import SqliteAccountStore
from hubbub.history.sqlite import SCHEMA_VERSION as HISTORY_SCHEMA
from hubbub.history.sqlite import SqliteStore
from hubbub.registry.model import ChannelBan, RegisteredChannel, ServerBan
from hubbub.registry.sqlite import SCHEMA_VERSION, SqliteRegistryStore
from hubbub.registry.store import RegistryStore


def chan(name: str, owner: str = "Alice", **changes: object) -> RegisteredChannel:
    base = RegisteredChannel(name, name.lower(), owner, 1000, created=5)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


FULL = chan(
    "#Room",
    ops=("bob", "Carol"),
    topic="a topic ✓",
    topic_setter="alice!a@h",
    topic_time=77,
    flags="imnst",
    key="sekrit",
    limit=12,
    bans=(ChannelBan("*!*@bad", "alice!a@h", 9), ChannelBan("x!*@*", "bob!b@h", 10)),
    history_access="since_join",
    excepts=(ChannelBan("a:trusted", "alice!a@h", 11),),
    invex=(ChannelBan("*!*@friends", "alice!a@h", 12), ChannelBan("a:guest*", "bob!b@h", 13)),
)


def test_create_get_and_list(store: RegistryStore) -> None:
    assert store.create_channel(FULL)
    assert store.get_channel("#room") == FULL
    assert store.get_channel("#Room") is None  # the caller folds
    assert not store.create_channel(chan("#ROOM", fold="#room"))  # taken
    assert store.create_channel(chan("#a", owner="bob"))
    assert [c.fold for c in store.channels()] == ["#a", "#room"]
    assert [c.fold for c in store.channels_of("ALICE")] == ["#room"]
    assert store.channels_of("nobody") == []


def test_save_and_delete(store: RegistryStore) -> None:
    assert not store.save_channel(FULL)  # not registered
    assert store.create_channel(chan("#Room"))
    assert store.save_channel(FULL)
    assert store.get_channel("#room") == FULL
    assert store.delete_channel("#room")
    assert not store.delete_channel("#room")
    assert store.get_channel("#room") is None and store.channels() == []


def test_bans_add_replace_remove(store: RegistryStore) -> None:
    k = ServerBan("K", "*@10.0.0.1", "spam", "alice", 100, 0)
    d = ServerBan("D", "10.0.0.0/8", "flood", "alice", 101, 5000)
    assert store.add_ban(k) and store.add_ban(d)
    assert store.bans() == [k, d]
    newer = dataclasses.replace(k, reason="more spam", set_ms=200)
    assert not store.add_ban(newer)  # replaced, moved to the end
    assert store.bans() == [d, newer]
    assert store.add_ban(ServerBan("D", "*@10.0.0.1", "same mask, other kind", "a", 1))
    assert store.remove_ban("K", "*@10.0.0.1")
    assert not store.remove_ban("K", "*@10.0.0.1")
    assert [(b.kind, b.mask) for b in store.bans()] == [("D", "10.0.0.0/8"), ("D", "*@10.0.0.1")]


def test_replace_ban_writes_only_over_the_ban_it_expects(store: RegistryStore) -> None:
    """BanStore.replace_ban: "If the stored ban of this kind and mask is `expected` (None:
    none is stored), make it `ban` (None: remove it)"."""
    first = ServerBan("K", "*@x", "first", "alice", 100, 0)
    second = dataclasses.replace(first, reason="second", set_ms=200)
    other = ServerBan("D", "10.0.0.1", "other", "bob", 50, 0)
    assert not store.replace_ban("K", "*@x", first, second)  # none stored: not the expected
    assert not store.replace_ban("K", "*@x", None, None)
    assert store.replace_ban("K", "*@x", None, first)
    assert store.add_ban(other)
    assert not store.replace_ban("K", "*@x", None, second)  # one is stored
    assert store.bans() == [first, other]
    assert store.replace_ban("K", "*@x", first, second)
    assert store.bans() == [other, second]  # replaced, moved to the end (as add_ban does)
    # A late writer of the first, expecting none stored, leaves the second in place:
    assert not store.replace_ban("K", "*@x", None, first)
    assert not store.replace_ban("K", "*@x", first, None)  # nor removes it
    assert store.bans() == [other, second]
    assert store.replace_ban("K", "*@x", second, None)
    assert store.bans() == [other]


def test_expire_bans(store: RegistryStore) -> None:
    store.add_ban(ServerBan("K", "a@b", "r", "o", 0, 1000))
    store.add_ban(ServerBan("K", "c@d", "r", "o", 0, 0))  # permanent
    store.add_ban(ServerBan("D", "10.0.0.1/32", "r", "o", 0, 2000))
    assert store.expire_bans(999) == 0
    assert store.expire_bans(1000) == 1
    assert [b.mask for b in store.bans()] == ["c@d", "10.0.0.1/32"]
    assert store.expire_bans(10**12) == 1
    assert [b.mask for b in store.bans()] == ["c@d"]
    assert not ServerBan("K", "c@d", "r", "o", 0, 0).expired(10**15)


def test_sqlite_survives_reopening_beside_history_and_accounts(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    history, accounts = SqliteStore(path), SqliteAccountStore(path)
    store = SqliteRegistryStore(path)
    store.create_channel(FULL)
    store.add_ban(ServerBan("K", "*@x", "r", "o", 1, 2))
    store.close()
    again = SqliteRegistryStore(path)
    assert again.get_channel("#room") == FULL
    assert again.bans() == [ServerBan("K", "*@x", "r", "o", 1, 2)]
    assert again.schema_version == SCHEMA_VERSION
    assert history.schema_version == HISTORY_SCHEMA and accounts.schema_version == ACCOUNTS_SCHEMA
    for each in (again, history, accounts):
        each.close()


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "db"
    SqliteRegistryStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE hubbub_schema SET version = 99 WHERE component = 'registry'")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        SqliteRegistryStore(path)


def test_lists_without_exceptions_read_back_empty(store: RegistryStore) -> None:
    """+e and +I lists are saved beside the bans; a channel with bans only reads back with
    empty exception lists, and mutes (m:) stay bans."""
    saved = chan("#quiet", bans=(ChannelBan("m:*!*@loud", "alice!a@h", 1),))
    assert store.create_channel(saved)
    got = store.get_channel("#quiet")
    assert got is not None and got.bans == saved.bans
    assert got.excepts == () and got.invex == ()


def test_rows_written_before_exception_lists_still_read(tmp_path: Path) -> None:
    """A bans column written by an older hubbub (three-element entries) reads as +b."""
    store = SqliteRegistryStore(tmp_path / "db")
    assert store.create_channel(chan("#old"))
    with sqlite3.connect(tmp_path / "db") as db:
        db.execute("UPDATE channels SET bans = ? WHERE fold = '#old'", ('[["x!*@*", "s", 3]]',))
    got = store.get_channel("#old")
    store.close()
    assert got is not None and got.bans == (ChannelBan("x!*@*", "s", 3),) and got.excepts == ()


def test_rename_channel(store: RegistryStore) -> None:
    """draft/channel-rename: the registration follows the room to its new name."""
    assert store.create_channel(FULL)
    assert store.create_channel(chan("#taken"))
    assert not store.rename_channel("#room", "#Taken", "#taken")  # another registered one
    assert not store.rename_channel("#none", "#x", "#x")
    assert store.rename_channel("#room", "#Hall", "#hall")
    assert store.get_channel("#room") is None
    assert store.get_channel("#hall") == dataclasses.replace(FULL, name="#Hall", fold="#hall")
    assert store.rename_channel("#hall", "#HALL", "#hall")  # only the case
    got = store.get_channel("#hall")
    assert got is not None and got.name == "#HALL"


def test_channel_metadata_changes_per_key_and_goes_with_the_channel(
    store: RegistryStore,
) -> None:
    assert store.channel_metadata() == {}
    assert not store.change_channel_metadata("#room", [("avatar", "x")])  # not registered
    assert store.channel_metadata() == {}
    store.create_channel(FULL)
    store.create_channel(chan("#other"))
    assert store.change_channel_metadata("#room", [("avatar", "https://a/b.png"), ("color", "red")])
    assert store.change_channel_metadata("#other", [("status", "ok ✓")])
    assert store.change_channel_metadata("#room", [("color", "blue")])  # the others kept
    assert store.channel_metadata() == {
        "#other": {"status": "ok ✓"},
        "#room": {"avatar": "https://a/b.png", "color": "blue"},
    }
    assert store.change_channel_metadata("#room", [("avatar", None), ("homepage", "h")])
    assert store.change_channel_metadata("#room", [("pronouns", None)])  # not set: nothing
    assert store.channel_metadata() == {
        "#other": {"status": "ok ✓"},
        "#room": {"color": "blue", "homepage": "h"},
    }
    assert store.change_channel_metadata("#other", [("status", None)])  # its last key
    assert store.channel_metadata() == {"#room": {"color": "blue", "homepage": "h"}}
    assert store.delete_channel("#room")
    store.create_channel(FULL)
    assert store.channel_metadata() == {}


def test_two_stores_changing_other_keys_of_one_channel_keep_both(
    store_pair: tuple[RegistryStore, RegistryStore],
) -> None:
    """Two nodes (two stores on one database) change different keys of the same registered
    channel, each not knowing the other's change: the registry keeps both."""
    first, second = store_pair
    first.create_channel(FULL)
    assert first.change_channel_metadata("#room", [("color", "teal")])
    assert second.change_channel_metadata("#room", [("homepage", "https://x")])
    assert first.channel_metadata() == {"#room": {"color": "teal", "homepage": "https://x"}}
    assert second.change_channel_metadata("#room", [("color", None)])
    assert first.channel_metadata() == {"#room": {"homepage": "https://x"}}


def test_sqlite_migrates_a_version_2_registry_to_metadata(tmp_path: Path) -> None:
    """A registry written before channel metadata existed (version 2: +f) gets its table when
    opened."""
    path = tmp_path / "db"
    SqliteRegistryStore(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE channel_metadata")
    db.execute("UPDATE hubbub_schema SET version = 2 WHERE component = 'registry'")
    db.commit()
    db.close()
    again = SqliteRegistryStore(path)
    assert again.schema_version == SCHEMA_VERSION == 3
    again.create_channel(FULL)
    assert again.change_channel_metadata("#room", [("avatar", "a")])
    assert again.channel_metadata() == {"#room": {"avatar": "a"}}
    again.close()
