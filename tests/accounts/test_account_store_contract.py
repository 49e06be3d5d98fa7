"""The AccountStore contract, checked identically on memory and SQLite; SQLite specifics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hubbub.accounts.model import Account, Credentials
from hubbub.accounts.sqlite import SCHEMA_VERSION, SqliteAccountStore
from hubbub.accounts.store import AccountStore
from hubbub.history.record import Record
from hubbub.history.sqlite import SCHEMA_VERSION as HISTORY_SCHEMA
from hubbub.history.sqlite import SqliteStore

FP1 = "a" * 64
FP2 = "b" * 64


def creds(tag: bytes = b"1") -> Credentials:
    return Credentials(f"$argon2id$fake{tag.decode()}", b"salt" + tag, 4096, b"s" * 32, b"k" * 32)


def account(name: str, **changes: object) -> Account:
    base = Account(name, name.lower(), creds(), "x@example.org", 1000, id=f"{name}!0f")
    for key, value in changes.items():
        object.__setattr__(base, key, value)
    return base


def test_create_get_and_names(store: AccountStore) -> None:
    alice = account("Alice")
    assert store.create(alice)
    assert store.get("alice") == alice
    assert store.get("Alice") is None  # the caller folds
    assert store.get("bob") is None
    assert not store.create(account("ALICE", fold="alice"))  # the name is taken
    assert store.create(account("Bob", pending=True))
    assert store.names() == ["alice", "bob"]
    assert [a.name for a in store.accounts()] == ["Alice", "Bob"]
    assert [a.name for a in store.accounts(pending_only=True)] == ["Bob"]


def test_stable_ids(store: AccountStore) -> None:
    """Issue 11 #4: an account's id outlives nothing but the account; a re-registered name
    gets a new one, and an id is never given twice."""
    assert store.create(account("Alice", id="Alice!01"))
    assert store.create(account("Bob", id=""))  # none given: the name (accounts before ids)
    assert store.ids() == {"alice": "Alice!01", "bob": "Bob"}
    assert store.get("bob") == account("Bob", id="Bob")
    assert not store.create(account("Carol", id="Alice!01"))
    assert store.delete("alice")
    assert store.create(account("Alice", id="Alice!02"))
    assert store.ids()["alice"] == "Alice!02"


def test_credentials_round_trip_exactly(store: AccountStore) -> None:
    store.create(account("alice"))
    new = creds(b"2")
    assert store.set_credentials("alice", new)
    found = store.get("alice")
    assert found is not None and found.credentials == new
    assert not store.set_credentials("nobody", new)


def test_approve_only_pending_accounts(store: AccountStore) -> None:
    store.create(account("bob", pending=True))
    store.create(account("carol"))
    assert store.approve("bob")
    found = store.get("bob")
    assert found is not None and not found.pending
    assert not store.approve("bob")
    assert not store.approve("carol")
    assert not store.approve("nobody")


def test_certificates_belong_to_one_account(store: AccountStore) -> None:
    store.create(account("alice"))
    store.create(account("bob"))
    assert store.add_cert("alice", FP1)
    assert not store.add_cert("alice", FP1)
    assert not store.add_cert("bob", FP1)
    assert not store.add_cert("nobody", FP2)
    assert store.add_cert("alice", FP2)
    found = store.find_by_cert(FP1)
    assert found is not None and found.name == "alice"
    assert found.certfps == (FP1, FP2)
    assert store.find_by_cert("c" * 64) is None
    assert not store.remove_cert("bob", FP1)
    assert store.remove_cert("alice", FP1)
    assert store.find_by_cert(FP1) is None
    assert store.add_cert("bob", FP1)


def test_delete_takes_the_certificates_along(store: AccountStore) -> None:
    store.create(account("alice"))
    store.add_cert("alice", FP1)
    assert store.delete("alice")
    assert not store.delete("alice")
    assert store.get("alice") is None
    assert store.find_by_cert(FP1) is None
    assert store.names() == []
    store.create(account("bob"))
    assert store.add_cert("bob", FP1)


def test_create_with_certificates(store: AccountStore) -> None:
    assert store.create(account("alice", certfps=(FP1,)))
    assert not store.create(account("bob", certfps=(FP1,)))  # the fingerprint is taken
    assert store.get("bob") is None
    found = store.find_by_cert(FP1)
    assert found is not None and found.name == "alice"


def test_sqlite_survives_reopening_and_shares_the_history_file(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    history = SqliteStore(path)  # the history's own connection, as on its worker thread
    accounts = SqliteAccountStore(path)
    accounts.create(account("alice", certfps=(FP1,)))
    history.append([Record("#room", "m1", 1, "a!b@c", "PRIVMSG", ("#room", "hi"), {}, "alice")])
    history.commit()
    accounts.close()
    history.close()
    history = SqliteStore(path)
    again = SqliteAccountStore(path)
    assert again.schema_version == SCHEMA_VERSION
    assert again.get("alice") == account("alice", certfps=(FP1,))
    assert history.latest("#room", 5)[0].account == "alice"
    assert history.schema_version == HISTORY_SCHEMA  # PRAGMA user_version stays the history's
    again.close()
    history.close()


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "db"
    SqliteAccountStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE hubbub_schema SET version = 99 WHERE component = 'accounts'")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        SqliteAccountStore(path)


VERSION_1_SCHEMA = """
CREATE TABLE hubbub_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE accounts (
    fold TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL,
    created_ms INTEGER NOT NULL, pending INTEGER NOT NULL, password_hash TEXT NOT NULL,
    scram_salt BLOB NOT NULL, scram_iterations INTEGER NOT NULL, stored_key BLOB NOT NULL,
    server_key BLOB NOT NULL
);
CREATE TABLE account_certs (
    certfp TEXT PRIMARY KEY,
    fold TEXT NOT NULL REFERENCES accounts (fold) ON DELETE CASCADE
);
INSERT INTO hubbub_schema VALUES ('accounts', 1);
INSERT INTO accounts VALUES ('alice', 'Alice', '', 5, 0, '$argon2id$x', x'00', 4096, x'01', x'02');
"""


def test_sqlite_upgrades_version_1_accounts_to_stable_ids(tmp_path: Path) -> None:
    """A file of the first schema: its accounts keep their name as id (the keys their history
    already has), and new accounts get ids of their own."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(VERSION_1_SCHEMA)
    db.close()
    store = SqliteAccountStore(path)
    assert store.schema_version == SCHEMA_VERSION == 3
    found = store.get("alice")
    assert found is not None and found.id == "Alice" and found.credentials.scram_iterations == 4096
    assert store.create(account("Bob"))
    assert store.ids() == {"alice": "Alice", "bob": "Bob!0f"}
    store.close()
    again = SqliteAccountStore(path)
    assert again.ids() == {"alice": "Alice", "bob": "Bob!0f"}
    again.close()


def test_read_markers_only_move_forward(store: AccountStore) -> None:
    store.create(account("alice"))
    assert store.read_marker("alice", "#room") is None
    assert store.set_read_marker("alice", "#room", 2000) == 2000
    assert store.set_read_marker("alice", "#room", 1000) == 2000  # older: kept as it was
    assert store.read_marker("alice", "#room") == 2000
    assert store.set_read_marker("alice", "#room", 3000) == 3000
    assert store.set_read_marker("alice", "bob", 500) == 500  # per target
    assert store.read_marker("alice", "#room") == 3000
    assert store.set_read_marker("nobody", "#room", 1) is None  # no such account
    assert store.read_marker("nobody", "#room") is None


def test_read_markers_go_with_the_account(store: AccountStore) -> None:
    store.create(account("alice"))
    store.set_read_marker("alice", "#room", 2000)
    assert store.delete("alice")
    store.create(account("alice"))
    assert store.read_marker("alice", "#room") is None


def test_sqlite_migrates_a_version_2_file(tmp_path: Path) -> None:
    """A file written before read markers and metadata existed (version 2: stable ids) gets
    their tables when opened."""
    path = tmp_path / "db"
    SqliteAccountStore(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE read_markers")
    db.execute("DROP TABLE account_metadata")
    db.execute("UPDATE hubbub_schema SET version = 2 WHERE component = 'accounts'")
    db.commit()
    db.close()
    again = SqliteAccountStore(path)
    assert again.schema_version == SCHEMA_VERSION == 3
    again.create(account("alice"))
    assert again.set_read_marker("alice", "#room", 5) == 5
    assert again.save_metadata("alice", {"avatar": "a"})
    again.close()


def test_metadata_is_replaced_whole_and_goes_with_the_account(store: AccountStore) -> None:
    assert not store.save_metadata("alice", {"avatar": "x"})  # no such account
    store.create(account("alice"))
    assert store.metadata("alice") == {}
    assert store.save_metadata("alice", {"avatar": "https://a/b.png", "pronouns": "she/her"})
    assert store.metadata("alice") == {"avatar": "https://a/b.png", "pronouns": "she/her"}
    assert store.save_metadata("alice", {"status": "away ✓"})  # replaced, not merged
    assert store.metadata("alice") == {"status": "away ✓"}
    assert store.delete("alice")
    store.create(account("alice"))
    assert store.metadata("alice") == {}
