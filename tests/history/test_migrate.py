"""`hubbub migrate --from sqlite:PATH --to postgresql://…` against a real throwaway cluster:
everything of a SQLite file reads back the same from PostgreSQL, in order; a second run (and a
run after the SQLite side grew) duplicates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from history_helpers import rec

from hubbub.accounts.model import Account, Credentials
from hubbub.accounts.postgres import PostgresAccountStore
from hubbub.accounts.sqlite import SqliteAccountStore
from hubbub.cli import main
from hubbub.history.postgres import PostgresStore
from hubbub.history.record import Edit, dm_key
from hubbub.history.sqlite import SqliteStore
from hubbub.pg.migrate import migrate
from hubbub.registry.model import ChannelBan, RegisteredChannel, ServerBan
from hubbub.registry.postgres import PostgresRegistryStore
from hubbub.registry.sqlite import SqliteRegistryStore
from support.postgres_server import shared_server
from support.servers import free_port

DM = dm_key("alice", "bob")


def credentials(tag: str) -> Credentials:
    return Credentials(f"$argon2id$fake{tag}", b"salt" + tag.encode(), 4096, b"s" * 32, b"k" * 32)


def fill_sqlite(path: Path) -> None:
    history = SqliteStore(path)
    history.append([rec("#room", n) for n in range(25)] + [rec(DM, n) for n in range(3)])
    history.append([rec("#other", n, time_ms=500 - n) for n in range(4)])  # times go back
    history.commit()
    assert history.edit("#room", "#room/3", Edit("edit-1", 5000, "changed", account="alice"))
    assert history.edit("#room", "#room/3", Edit("edit-2", 6000, "again", account="alice"))
    history.close()
    accounts = SqliteAccountStore(path)
    alice = Account("Alice", "alice", credentials("a"), "a@example.org", 10, certfps=("ab" * 32,))
    assert accounts.create(alice)
    assert accounts.create(Account("Bob", "bob", credentials("b"), pending=True, id="Bob!f00"))
    assert accounts.set_read_marker("alice", "#room", 1200) == 1200
    assert accounts.save_metadata("alice", {"avatar": "https://example.org/a.png"})
    accounts.close()
    registry = SqliteRegistryStore(path)
    room = RegisteredChannel(
        "#Room", "#room", "Alice", 1000, created=5, ops=("Bob",), topic="hello", flags="mnt",
        bans=(ChannelBan("*!*@bad", "alice", 7),), excepts=(ChannelBan("*!*@ok", "alice", 8),),
    )  # fmt: skip
    assert registry.create_channel(room)
    assert registry.change_channel_metadata("#room", [("url", "https://example.org")])
    assert registry.add_ban(ServerBan("K", "*@bad.example", "spam", "oper", 100))
    assert registry.add_ban(ServerBan("D", "192.0.2.0/24", "flood", "oper", 200, 10**13))
    registry.close()


def assert_same(path: Path, url: str) -> None:
    old, new = SqliteStore(path), PostgresStore(url)
    for target in ("#room", "#other", DM):
        assert new.latest(target, 1000) == old.latest(target, 1000), target
    assert new.edits("#room", "#room/3") == old.edits("#room", "#room/3")
    assert new.targets(0, 10**6, 10, ["#room", "#other"], "alice") == old.targets(
        0, 10**6, 10, ["#room", "#other"], "alice"
    )
    old.close(), new.close()
    old_accounts, new_accounts = SqliteAccountStore(path), PostgresAccountStore(url)
    assert new_accounts.accounts() == old_accounts.accounts()
    assert new_accounts.read_marker("alice", "#room") == 1200
    assert new_accounts.metadata("alice") == old_accounts.metadata("alice")
    old_accounts.close(), new_accounts.close()
    old_registry, new_registry = SqliteRegistryStore(path), PostgresRegistryStore(url)
    assert new_registry.channels() == old_registry.channels()
    assert new_registry.channel_metadata() == old_registry.channel_metadata()
    assert new_registry.bans() == old_registry.bans()
    old_registry.close(), new_registry.close()


def test_migrate_copies_everything_and_twice_duplicates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    fill_sqlite(path)
    url = shared_server().new_schema_url()

    first = migrate(path, url)
    assert (first.records, first.records_skipped, first.edits) == (32, 0, 2)
    assert (first.accounts, first.channels, first.bans, first.read_markers) == (2, 1, 2, 1)
    assert_same(path, url)

    again = migrate(path, url)
    assert (again.records, again.records_skipped, again.edits) == (0, 32, 0)
    assert (again.accounts, again.accounts_skipped, again.channels, again.bans) == (0, 2, 0, 0)
    assert_same(path, url)

    # The SQLite side grew meanwhile (a server still ran on it): only the new part is copied.
    history = SqliteStore(path)
    history.append([rec("#room", n) for n in range(25, 30)])
    history.close()
    grown = migrate(path, url)
    assert (grown.records, grown.records_skipped) == (5, 32)
    assert_same(path, url)


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "history.sqlite3"
    fill_sqlite(path)
    url = shared_server().new_schema_url()
    assert main(["migrate", "--from", f"sqlite:{path}", "--to", url]) == 0
    out = capsys.readouterr().out
    assert "records: 32" in out and "accounts: 2" in out
    assert main(["migrate", "--from", f"sqlite:{path}", "--to", url]) == 0
    assert "records: 0" in capsys.readouterr().out
    assert_same(path, url)


def test_the_command_refuses_bad_arguments_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://hubbub@127.0.0.1:{free_port()}/hubbub"
    assert main(["migrate", "--from", str(tmp_path / "h.db"), "--to", url]) == 2
    assert "--from: expected sqlite:PATH" in capsys.readouterr().err
    assert main(["migrate", "--from", f"sqlite:{tmp_path}/h.db", "--to", "mysql://x"]) == 2
    assert "--to: expected a postgresql:// URL" in capsys.readouterr().err
    assert main(["migrate", "--from", f"sqlite:{tmp_path}/none.db", "--to", url]) == 1
    assert "no such SQLite file" in capsys.readouterr().err
    SqliteStore(tmp_path / "h.db").close()
    assert main(["migrate", "--from", f"sqlite:{tmp_path}/h.db", "--to", url]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot connect to PostgreSQL" in err[0]
