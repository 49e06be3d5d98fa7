"""The RegistryStore contract (registered channels, server bans), identically on memory,
SQLite and PostgreSQL; SQLite and PostgreSQL specifics: reopening, sharing the history file,
schema versions and their upgrades."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hubbub.accounts.sqlite import SCHEMA_VERSION as ACCOUNTS_SCHEMA
from hubbub.accounts.sqlite import SqliteAccountStore
from hubbub.history.sqlite import SCHEMA_VERSION as HISTORY_SCHEMA
from hubbub.history.sqlite import SqliteStore
from hubbub.registry.model import (
    REMOVAL_KEPT_MS,
    ChannelBan,
    RegisteredChannel,
    ServerBan,
    removal,
)
from hubbub.registry.postgres import SCHEMA_VERSION as POSTGRES_SCHEMA
from hubbub.registry.postgres import PostgresRegistryStore
from hubbub.registry.sqlite import SCHEMA_VERSION, SqliteRegistryStore
from hubbub.registry.store import RegistryStore
from support.postgres_server import shared_server
from support.waiting import wait_for


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


def test_a_removal_recorded_in_the_bans_place_stops_a_late_writer(store: RegistryStore) -> None:
    """BanStore.remove_ban: "`removed` ... is stored in its place"; replace_ban expecting
    nothing stored (None) does not write over it ("nor over a removal stored before it was
    announced"), and the record is no ban (`bans` leaves it out)."""
    ban = ServerBan("K", "*@x", "spam", "alice", 100, 0)
    gone = removal("K", "*@x", "alice", 200)
    assert gone.removed and gone.expires_ms == 200 + REMOVAL_KEPT_MS
    assert store.add_ban(ban)
    assert store.remove_ban("K", "*@x", gone)
    assert store.bans() == []
    assert not store.replace_ban("K", "*@x", None, ban)  # a node applying the K-line late
    assert store.bans() == []
    assert not store.remove_ban("K", "*@x", gone)  # no ban there: False, the record kept
    # The events after the removal write over it as they expect it.
    assert store.replace_ban("K", "*@x", gone, dataclasses.replace(ban, set_ms=300))
    assert [b.set_ms for b in store.bans()] == [300]
    assert store.replace_ban("K", "*@x", dataclasses.replace(ban, set_ms=300), gone)
    assert store.bans() == []
    assert store.add_ban(ban)  # over the record of its removal: new
    assert store.bans() == [ban]
    assert store.remove_ban("K", "*@x")  # one server: nothing recorded
    assert store.replace_ban("K", "*@x", None, ban)
    # The record goes when it expires, and is not counted as a ban that went.
    assert store.remove_ban("K", "*@x", gone)
    assert store.expire_bans(gone.expires_ms) == 0
    assert store.replace_ban("K", "*@x", None, ban)


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


def test_a_renamed_channels_metadata_goes_with_it_and_its_state_version_starts_again(
    store: RegistryStore,
) -> None:
    """ChannelStore.rename_channel: "its entry moves to `new_fold` ..., its metadata with
    it, everything else kept but the version of its state, which starts again (0, 0)" (the
    metadata stayed under the old name, and the renamed room's saves, numbered anew, were
    taken for older: cluster fuzz findings, seeds 100963 and 101189)."""
    assert store.create_channel(dataclasses.replace(FULL, state_ms=9, state_seq=40))
    assert store.create_channel(chan("#taken"))
    assert store.change_channel_metadata("#room", [("color", "teal")])
    assert store.change_channel_metadata("#taken", [("color", "red")])
    assert not store.rename_channel("#room", "#Taken", "#taken")
    assert store.channel_metadata() == {"#room": {"color": "teal"}, "#taken": {"color": "red"}}
    assert store.rename_channel("#room", "#Hall", "#hall")
    assert store.channel_metadata() == {"#hall": {"color": "teal"}, "#taken": {"color": "red"}}
    got = store.get_channel("#hall")
    assert got is not None and got.state_version == (0, 0) and got.topic == FULL.topic
    assert store.save_state(dataclasses.replace(FULL, fold="#hall", state_ms=9, state_seq=2))
    assert store.rename_channel("#hall", "#HALL", "#hall")
    assert store.channel_metadata()["#hall"] == {"color": "teal"}


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


#: The channels table of a version-2 (and 3) registry.
VERSION_2_CHANNELS = """CREATE TABLE channels (fold TEXT PRIMARY KEY, name TEXT NOT NULL,
    owner TEXT NOT NULL, registered_ms INTEGER NOT NULL, created INTEGER NOT NULL,
    ops TEXT NOT NULL, topic TEXT NOT NULL, topic_setter TEXT NOT NULL,
    topic_time INTEGER NOT NULL, flags TEXT NOT NULL, chan_key TEXT NOT NULL,
    chan_limit INTEGER NOT NULL, bans TEXT NOT NULL, history_access TEXT NOT NULL,
    flood TEXT NOT NULL DEFAULT '')"""

#: And its server_bans table.
VERSION_2_SERVER_BANS = """CREATE TABLE server_bans (seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL, mask TEXT NOT NULL, reason TEXT NOT NULL, setter TEXT NOT NULL,
    set_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, UNIQUE (kind, mask))"""


def test_sqlite_migrates_a_version_2_registry_to_metadata_and_state_versions(
    tmp_path: Path,
) -> None:
    """A registry written before channel metadata existed (version 2: +f) gets its table,
    and the columns saying which state was saved and which rows record removals (version 4),
    when opened; its channels read back with the unversioned state of one server."""
    path = tmp_path / "db"
    SqliteRegistryStore(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE channel_metadata")
    db.execute("DROP TABLE channels")
    db.execute(VERSION_2_CHANNELS)
    db.execute("DROP TABLE server_bans")
    db.execute(VERSION_2_SERVER_BANS)
    db.execute("INSERT INTO server_bans VALUES (1, 'K', '*@x', 'spam', 'alice', 5, 0)")
    row = (FULL.fold, FULL.name, FULL.owner, FULL.registered_ms, FULL.created, "[]", "t", "",
           0, "nt", "", 0, "[]", "everyone", "")  # fmt: skip
    db.execute(f"INSERT INTO channels VALUES ({', '.join('?' * len(row))})", row)
    db.execute("UPDATE hubbub_schema SET version = 2 WHERE component = 'registry'")
    db.commit()
    db.close()
    again = SqliteRegistryStore(path)
    assert again.schema_version == SCHEMA_VERSION == 4
    old = again.get_channel("#room")
    assert old is not None and old.topic == "t" and old.state_version == (0, 0)
    assert again.save_state(dataclasses.replace(FULL, state_ms=5, state_seq=1))
    assert again.bans() == [ServerBan("K", "*@x", "spam", "alice", 5)]
    assert again.change_channel_metadata("#room", [("avatar", "a")])
    assert again.channel_metadata() == {"#room": {"avatar": "a"}}
    again.close()


def test_save_state_keeps_the_newer_state_and_the_registration(store: RegistryStore) -> None:
    """RegistryStore.save_state: "Save a registered channel's state ..., its registration
    kept, unless the saved state is newer": a cluster node's save committing after another
    node's later one keeps the later."""
    assert not store.save_state(FULL)  # not registered
    assert store.create_channel(chan("#Room"))
    later = dataclasses.replace(FULL, topic="later", state_ms=2000, state_seq=7)
    earlier = dataclasses.replace(FULL, topic="earlier", state_ms=2000, state_seq=6)
    assert store.save_state(later)
    assert not store.save_state(earlier)  # the same millisecond, earlier in the sequence
    assert not store.save_state(dataclasses.replace(earlier, state_ms=1999, state_seq=9))
    got = store.get_channel("#room")
    assert got is not None and got.topic == "later" and got.state_version == (2000, 7)
    assert got.ops == () and got.history_access == "everyone"  # the registration as created
    # A new epoch of the bus restarts the seqs, not its time: a later save is newer.
    assert store.save_state(dataclasses.replace(FULL, topic="new epoch", state_ms=2001))
    assert store.save_state(dataclasses.replace(FULL, topic="again", state_ms=2001))  # (equal)
    # One server's saves are unversioned and commit in order: each replaces the last.
    assert store.save_state(dataclasses.replace(FULL, topic="one server"))
    got = store.get_channel("#room")
    assert got is not None and got.topic == "one server" and got.state_version == (0, 0)


def test_save_state_saves_the_metadata_whole_with_the_state(store: RegistryStore) -> None:
    """RegistryStore.save_state: "and given `metadata`, its metadata whole (the keys not in it
    deleted) ... unless the saved state is newer"."""
    assert store.create_channel(chan("#Room"))
    assert store.change_channel_metadata("#room", [("color", "teal"), ("status", "open")])
    newer = dataclasses.replace(FULL, state_ms=5, state_seq=2)
    assert store.save_state(newer, {"color": "red", "avatar": "a"})
    assert store.channel_metadata() == {"#room": {"avatar": "a", "color": "red"}}
    older = dataclasses.replace(FULL, state_ms=5, state_seq=1)
    assert not store.save_state(older, {"color": "old"})  # nor its metadata
    assert store.channel_metadata() == {"#room": {"avatar": "a", "color": "red"}}
    assert store.save_state(dataclasses.replace(newer, state_seq=3))  # no metadata: kept
    assert store.channel_metadata() == {"#room": {"avatar": "a", "color": "red"}}
    assert store.save_state(dataclasses.replace(newer, state_seq=4), {})
    assert store.channel_metadata() == {}


def test_change_registration_changes_the_saved_one_and_keeps_the_state(
    store: RegistryStore,
) -> None:
    """RegistryStore.change_registration: "Change a registered channel's registration (owner,
    operators, history access) to what `change` makes of the one saved [...] its state kept
    [...] The channel as saved then; None (nothing changed) if it is not registered"."""
    assert store.change_registration("#room", lambda saved: saved) is None
    assert store.create_channel(dataclasses.replace(FULL, state_ms=10, state_seq=3))
    got = store.change_registration(
        "#room",
        lambda saved: dataclasses.replace(
            saved, ops=(*saved.ops, "erin"), history_access="registered", topic="not saved"
        ),
    )
    expected = dataclasses.replace(
        FULL, ops=("bob", "Carol", "erin"), history_access="registered", state_ms=10, state_seq=3
    )
    assert got == expected
    assert store.get_channel("#room") == expected


def test_two_nodes_changing_one_registration_at_once_keep_both_changes() -> None:
    """Two PostgreSQL connections (two nodes' registry workers) each add an operator, the
    second while the first's change is being made: the second reads the registration only
    once the first committed ("read and written in one transaction (the row locked)"), so
    both stay. (Read before, it would write its list without the first's operator over it.)
    SQLite has one writer at a time: its change takes the write lock before it reads."""
    url = shared_server().new_schema_url()
    first, second = PostgresRegistryStore(url), PostgresRegistryStore(url)
    outcome: list[RegisteredChannel | None] = []

    def add(name: str) -> Callable[[RegisteredChannel], RegisteredChannel]:
        return lambda saved: dataclasses.replace(saved, ops=(*saved.ops, name))

    other = threading.Thread(
        target=lambda: outcome.append(second.change_registration("#room", add("frank")))
    )

    def waiting_for_the_lock(watcher: psycopg.Connection[Any]) -> bool:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'"
        ).fetchone()
        return bool(row and row[0])

    def first_change(saved: RegisteredChannel) -> RegisteredChannel:
        other.start()
        # Until the other change has read and written, or waits for this one's row lock.
        with psycopg.connect(url, autocommit=True) as watcher:
            wait_for(lambda: outcome or waiting_for_the_lock(watcher), what="the other change")
        return add("erin")(saved)

    try:
        assert first.create_channel(chan("#Room", ops=("bob",)))
        got = first.change_registration("#room", first_change)
        other.join()
        assert got is not None and got.ops == ("bob", "erin")
        assert outcome[0] is not None and outcome[0].ops == ("bob", "erin", "frank")
        saved = first.get_channel("#room")
        assert saved is not None and saved.ops == ("bob", "erin", "frank")
    finally:
        first.close()
        second.close()


def test_two_nodes_saving_states_keep_the_newer_whichever_commits_last(
    store_pair: tuple[RegistryStore, RegistryStore],
) -> None:
    """Two connections (two nodes' registry workers) on one database: the older state saved
    last does not replace the newer, nor a registration saved meanwhile."""
    first, second = store_pair
    assert first.create_channel(chan("#Room"))
    assert second.save_state(dataclasses.replace(FULL, topic="newer", state_ms=9, state_seq=2))
    stale = dataclasses.replace(FULL, ops=("erin",), topic="stale")
    assert first.change_registration("#room", lambda saved: stale)
    assert not first.save_state(dataclasses.replace(FULL, topic="older", state_ms=9, state_seq=1))
    got = second.get_channel("#room")
    assert got is not None and got.topic == "newer" and got.ops == ("erin",)


def test_postgres_migrates_a_version_1_registry_to_state_versions() -> None:
    """A PostgreSQL registry written before states were versioned and removals recorded
    (version 1) gains the columns when a node opens it; its channels read back unversioned,
    and keep saving."""
    url = shared_server().new_schema_url()
    first = PostgresRegistryStore(url)
    assert first.create_channel(FULL)
    first.close()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("ALTER TABLE channels DROP COLUMN state_ms, DROP COLUMN state_seq")
        db.execute("ALTER TABLE server_bans DROP COLUMN removed")
        db.execute("UPDATE hubbub_schema SET version = 1 WHERE component = 'registry'")
    again = PostgresRegistryStore(url)
    try:
        assert again.schema_version == POSTGRES_SCHEMA == 2
        assert again.get_channel("#room") == FULL
        assert again.save_state(dataclasses.replace(FULL, topic="on", state_ms=3, state_seq=1))
        got = again.get_channel("#room")
        assert got is not None and got.topic == "on" and got.state_version == (3, 1)
    finally:
        again.close()
