"""`hubbub backup` while the server writes, `hubbub restore`, and a server on the restored copy."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from hubbub.cli import main
from hubbub.ops.backup import BackupError, check_backup
from hubbub.ops.datalock import DataDirLocked
from support.config import server_config
from support.irc_client import IrcClient
from support.servers import ThreadedServer
from support.waiting import wait_for


def committed(server: ThreadedServer) -> bool:
    assert server.app is not None and server.app.worker is not None
    return server.app.worker.pending == 0


def test_backup_while_writing_then_restore_and_read_the_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live"
    copy = tmp_path / "backup.sqlite3"
    with ThreadedServer(server_config(live)) as server:
        alice = IrcClient(server.address)
        bob = IrcClient(server.address)
        try:
            alice.register("alice")
            alice.join("#room")
            bob.register("bob")
            bob.join("#room")
            alice.say("#room", *(f"before {index}" for index in range(20)))
            bob.until(lambda line: line.text == "before 19")
            wait_for(lambda: committed(server), 10, "the first messages committed")
            # A writer keeps talking while the backup is taken.
            stop = threading.Event()
            said: list[int] = []

            def writer() -> None:
                index = 0
                while not stop.is_set():
                    alice.say("#room", f"during {index}")
                    said.append(index)
                    index += 1

            thread = threading.Thread(target=writer)
            thread.start()
            try:
                wait_for(lambda: len(said) >= 50, 10, "the writer under way")
                assert main(["backup", "--data-dir", str(live), "--to", str(copy)]) == 0
                wait_for(lambda: len(said) >= 100, 10, "the writer carrying on after the backup")
            finally:
                stop.set()
                thread.join(10)
            assert "integrity ok" in capsys.readouterr().out
            # A server runs on the data directory: restore refuses to pull the file away.
            assert main(["restore", "--from", str(copy), "--data-dir", str(live)]) == 1
            assert "another hubbub process" in capsys.readouterr().err
        finally:
            alice.close()
            bob.close()
    summary = check_backup(copy)
    # The snapshot holds at least the 20 committed messages, and only whole transactions.
    assert summary.records >= 20
    restored = tmp_path / "restored"
    assert main(["restore", "--from", str(copy), "--data-dir", str(restored)]) == 0
    with ThreadedServer(server_config(restored)) as server:
        # The restored server reads the history through its own worker. (A room that was not
        # registered is re-created by its next JOIN, and a re-created room does not show the
        # previous incarnation's history to newcomers: hubbub.core.privacy.)
        assert server.app is not None and server.app.worker is not None
        records = server.app.worker.submit(lambda store: store.latest("#room", 10_000)).result(10)
        texts = [record.params[-1] for record in records]
        assert texts[:20] == [f"before {index}" for index in range(20)]
        during = [int(text.split()[1]) for text in texts[20:]]
        # A snapshot: the writer's messages up to some point, in order, none missing.
        assert during == list(range(len(during)))
        assert len(texts) == summary.records
        carol = IrcClient(server.address)
        try:
            carol.register("carol")
            carol.join("#room")
            carol.say("#room", "after the restore")
            carol.fence()
        finally:
            carol.close()


def test_restore_keeps_the_replaced_database_and_drops_its_wal(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for directory in (first, second):
        with ThreadedServer(server_config(directory)) as server:
            client = IrcClient(server.address)
            client.register("alice")
            client.join("#room")
            client.say("#room", f"said in {directory.name}")
            client.fence()
            client.close()
    copy = tmp_path / "first.backup"
    assert main(["backup", "--data-dir", str(first), "--to", str(copy)]) == 0
    assert main(["restore", "--from", str(copy), "--data-dir", str(second)]) == 0
    assert (second / "history.sqlite3.before-restore").exists()
    assert not (second / "history.sqlite3-wal").exists()
    db = sqlite3.connect(second / "history.sqlite3")
    try:
        params = " ".join(row[0] for row in db.execute("SELECT params FROM records"))
    finally:
        db.close()
    assert "said in first" in params
    assert "said in second" not in params


def test_restore_refuses_a_damaged_or_foreign_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BackupError, match="not a SQLite database"):
        check_backup(garbage)
    foreign = tmp_path / "foreign.sqlite3"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(BackupError, match="not a hubbub database"):
        check_backup(foreign)
    target = tmp_path / "data"
    assert main(["restore", "--from", str(garbage), "--data-dir", str(target)]) == 1
    assert not (target / "history.sqlite3").exists()


def test_restore_refuses_a_newer_schema(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ThreadedServer(server_config(data)):
        pass
    copy = tmp_path / "copy"
    assert main(["backup", "--data-dir", str(data), "--to", str(copy)]) == 0
    db = sqlite3.connect(copy)
    db.execute("PRAGMA user_version=999")
    db.commit()
    db.close()
    with pytest.raises(BackupError, match="newer than this hubbub reads"):
        check_backup(copy)


def test_a_second_server_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    with ThreadedServer(server_config(tmp_path)), pytest.raises(DataDirLocked):
        ThreadedServer(server_config(tmp_path)).start()


def test_backup_of_a_missing_database_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", "--data-dir", str(tmp_path), "--to", str(tmp_path / "x")]) == 1
    assert "no such database" in capsys.readouterr().err
    assert main(["backup", "--to", str(tmp_path / "x")]) == 2
