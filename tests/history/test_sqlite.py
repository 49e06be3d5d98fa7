"""SQLite specifics: persistence across reopen, schema version, pragmas, query plans."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from history_helpers import rec, remembers_what_a_rename_moves

from hubbub.history.backends import open_store
from hubbub.history.memory import MemoryStore
from hubbub.history.record import Ref, compact_json, dm_key, params_json, tags_json
from hubbub.history.sqlite import SCHEMA_VERSION, SqliteStore


def test_records_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "history.db"  # parent directories are created
    store = SqliteStore(path)
    records = [rec("#a", n, tags={"+x": "ü"}) for n in range(10)]
    store.append(records)
    store.append([rec(dm_key("a", "b"), 1)])
    store.close()  # commits

    again = SqliteStore(path)
    assert again.latest("#a", 100) == records
    assert again.targets(0, 10**9, 10, [], "b") == [(dm_key("a", "b"), 1010)]
    # Appending continues the sequence after the old records.
    again.append([rec("#a", 10)])
    assert again.latest("#a", 2) == [records[9], rec("#a", 10)]
    assert again.before("#a", Ref(msgid="#a/10"), 1) == [records[9]]
    again.close()


def test_uncommitted_records_are_lost_without_commit(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = SqliteStore(path)
    store.append([rec("#a", 1)])
    store.commit()
    store.append([rec("#a", 2)])
    assert len(store.latest("#a", 10)) == 2  # the connection sees its own uncommitted rows
    other = SqliteStore(path)
    assert other.latest("#a", 10) == [rec("#a", 1)]
    other.close()
    store.close()


def test_schema_version_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = SqliteStore(path)
    assert store.schema_version == SCHEMA_VERSION == 6
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"records_target_seq", "records_target_msgid", "records_target_time"} <= indexes
    db.close()


def test_a_version_2_history_gains_the_tables_of_renames(tmp_path: Path) -> None:
    """A history written before renames remembered what they moved, set aside and sent on
    opens, keeps its records, and does all three from then on."""
    path = tmp_path / "h.db"
    store = SqliteStore(path)
    store.append([rec("#old", 0)])
    store.commit()
    store.close()
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE moved_msgids; DROP TABLE set_aside; DROP TABLE moved_away;"
        " PRAGMA user_version=2;"
    )
    db.close()
    again = SqliteStore(path)
    assert again.schema_version == 6
    assert remembers_what_a_rename_moves(again)
    again.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        SqliteStore(path)


def test_queries_use_indexes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "h.db")
    plans = [
        store.explain(
            "SELECT * FROM records WHERE target=? AND time_ms<? ORDER BY time_ms DESC, seq DESC"
            " LIMIT 5",
            ("#a", 5),
        ),
        store.explain(
            "SELECT * FROM records WHERE target=? AND seq<? ORDER BY seq DESC LIMIT 5", ("#a", 5)
        ),
    ]
    for plan in plans:
        assert any("USING INDEX" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
    store.close()


def test_open_store_factory(tmp_path: Path) -> None:
    assert isinstance(open_store("memory", tmp_path / "unused.db"), MemoryStore)
    store = open_store("sqlite", tmp_path / "h.db")
    assert isinstance(store, SqliteStore)
    store.close()
    with pytest.raises(ValueError, match="mysql"):
        open_store("mysql", tmp_path / "h.db")


def test_append_runs_one_statement_per_chunk_not_per_record(tmp_path: Path) -> None:
    """A batch is inserted by a few multi-row statements. With `executemany` (a statement per
    record) the sqlite3 module gave up and won back the GIL once per record; under the threads
    engine's thousand connection threads each win took long enough that the history writer fell
    `history.max_pending` behind and the core refused every room sender's next messages (the
    bench's rooms scenario "lost" one window per sender). Order and duplicates still hold."""
    store = SqliteStore(tmp_path / "h.db")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    records = [rec("#a", n) for n in range(2600)]
    store.append([*records[:1500], records[3], *records[1500:]])  # one duplicate msgid
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert 1 <= len(inserts) <= 3, f"{len(inserts)} INSERT statements for 2,601 records"
    assert store.latest("#a", 3000) == records


@pytest.mark.parametrize(
    "params",
    [
        (),
        ("#a",),
        ("#a", "hello"),
        ("#ä", 'quote " back\\slash \t tab \x00 nul \x7f del'),
        ("#a", "emoji 🎉 and ü"),
        ("#a", "lone surrogate \udcff from bytes"),
    ],
)
def test_stored_params_text_is_the_compact_json_of_the_list(params: tuple[str, ...]) -> None:
    """The history thread's cheap JSON (no encoder per record) writes exactly what the
    compact encoder did, so older and newer rows read back alike."""
    assert params_json(params) == compact_json(list(params))
    assert tuple(json.loads(params_json(params))) == params


@pytest.mark.parametrize("tags", [{}, {"+x": "ü"}, {"+a": "", "+b": 'q"'}])
def test_stored_tags_text_is_the_compact_json_of_the_dict(tags: dict[str, str]) -> None:
    assert tags_json(tags) == compact_json(tags)


def test_a_batch_of_channel_and_private_records_keeps_its_order(tmp_path: Path) -> None:
    """Channel rows and private rows go through two statements (a channel's has no parties
    to bind); a mixed batch is still stored in append order, each with its parties."""
    store = SqliteStore(tmp_path / "h.db")
    dm = dm_key("a", "b")
    batch = [rec("#a", 1), rec(dm, 2), rec(dm, 3), rec("#a", 4), rec(dm, 5)]
    store.append(batch)
    rows = store._db.execute("SELECT target, party_a, party_b FROM records ORDER BY seq")
    assert list(rows) == [
        ("#a", None, None),
        (dm, "a", "b"),
        (dm, "a", "b"),
        ("#a", None, None),
        (dm, "a", "b"),
    ]
    assert store.latest("#a", 10) == [batch[0], batch[3]]
    assert store.latest(dm, 10) == [batch[1], batch[2], batch[4]]
    store.close()
