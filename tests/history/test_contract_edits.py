"""Message edits (draft/message-edit) in the HistoryStore contract, on memory and SQLite: the
edit is kept as an event linked to the original, and every query shows the edited text."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from history_helpers import rec

from hubbub.history.record import Edit, Ref
from hubbub.history.sqlite import SCHEMA_VERSION, SqliteStore
from hubbub.history.store import HistoryStore


def fill(store: HistoryStore) -> None:
    store.append([rec("#a", n) for n in range(1, 6)])
    store.commit()


def test_edit_changes_the_text_in_place_everywhere(store: HistoryStore) -> None:
    fill(store)
    original = store.find("#a", "#a/3")
    assert original is not None and original.edited_ms == 0
    assert store.edit("#a", "#a/3", Edit("e1", 9000, "fixed ✓", original.params[-1], "alice"))
    edited = store.find("#a", "#a/3")
    assert edited is not None
    assert edited.params == (*original.params[:-1], "fixed ✓") and edited.edited_ms == 9000
    assert edited.time_ms == original.time_ms and edited.msgid == "#a/3"  # same place
    for found in (
        store.latest("#a", 10),
        store.around("#a", Ref(msgid="#a/3"), 3),
        store.after("#a", Ref(msgid="#a/2"), 1),
        store.before("#a", Ref(msgid="#a/4"), 1),
    ):
        assert [r for r in found if r.msgid == "#a/3"] == [edited]
    assert [r.msgid for r in store.latest("#a", 10)] == [f"#a/{n}" for n in range(1, 6)]


def test_edits_are_kept_linked_in_order(store: HistoryStore) -> None:
    fill(store)
    first = Edit("e1", 9000, "second text", "", "alice")
    second = Edit("e2", 9500, "third text", "", "alice")
    assert store.edit("#a", "#a/2", first)
    assert store.edit("#a", "#a/2", second)
    got = store.edits("#a", "#a/2")
    assert [(e.msgid, e.time_ms, e.text, e.account) for e in got] == [
        ("e1", 9000, "second text", "alice"),
        ("e2", 9500, "third text", "alice"),
    ]
    assert got[1].previous == "second text"  # each edit remembers the text it replaced
    assert store.edits("#a", "#a/1") == []
    assert not store.edit("#a", "nope", first)
    assert not store.edit("#b", "#a/2", first)  # per target


def test_edits_go_with_their_message(store: HistoryStore) -> None:
    """Same retention as REDACT: a redacted, pruned or deleted message takes its edits along."""
    fill(store)
    for n in (1, 2, 3):
        store.edit("#a", f"#a/{n}", Edit(f"e{n}", 9000, "x", "", "alice"))
    assert store.redact("#a", "#a/3")
    assert store.edits("#a", "#a/3") == []
    assert store.prune(10_000, 3, 0) == 1  # of m1 m2 m4 m5, m1 goes
    assert store.edits("#a", "#a/1") == []
    assert [e.msgid for e in store.edits("#a", "#a/2")] == ["e2"]
    store.append([rec("#a", 9, text="by bob", account="bob")])
    store.edit("#a", "#a/9", Edit("e9", 9100, "y", "", "bob"))
    assert store.delete_by_account("bob") == 1
    assert store.edits("#a", "#a/9") == []


def test_sqlite_migrates_a_version_1_history(tmp_path: Path) -> None:
    """A history written before edits existed gets the column and table when opened."""
    path = tmp_path / "h.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE records (seq INTEGER PRIMARY KEY, target TEXT NOT NULL, msgid TEXT NOT NULL,"
        " time_ms INTEGER NOT NULL, source TEXT NOT NULL, command TEXT NOT NULL, params TEXT NOT"
        " NULL, tags TEXT NOT NULL, account TEXT NOT NULL, party_a TEXT, party_b TEXT);"
        "INSERT INTO records (target, msgid, time_ms, source, command, params, tags, account)"
        " VALUES ('#a', 'old', 5, 'a!b@c', 'PRIVMSG', '[\"#a\",\"hi\"]', '{}', '');"
        "PRAGMA user_version=1;"
    )
    db.close()
    store = SqliteStore(path)
    assert store.schema_version == SCHEMA_VERSION == 6
    found = store.find("#a", "old")
    assert found is not None and found.params == ("#a", "hi") and found.edited_ms == 0
    assert store.edit("#a", "old", Edit("e", 6, "hello", "", ""))
    assert store.edits("#a", "old")[0].previous == "hi"
    store.close()
