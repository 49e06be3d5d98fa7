"""`hubbub accounts list|approve|reject` on the database, and `hubbub cert`."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from hubbub.accounts.model import Account, Credentials
from hubbub.accounts.sqlite import SqliteAccountStore
from hubbub.cli import main

CREDS = Credentials("$argon2id$x", b"s", 4096, b"k", b"k")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = SqliteAccountStore(tmp_path / "history.sqlite3")
    store.create(Account("Alice", "alice", CREDS, "", 0, pending=True))
    store.create(Account("bob", "bob", CREDS))
    store.close()
    return tmp_path


def test_list_approve_reject(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = ["--data-dir", str(data_dir)]
    assert main(["accounts", "list", "--pending", *d]) == 0
    assert capsys.readouterr().out.split("\t")[:2] == ["Alice", "pending"]
    assert main(["accounts", "approve", "ALICE", *d]) == 0  # casefolded like the server does
    assert "approved Alice" in capsys.readouterr().out
    assert main(["accounts", "approve", "alice", *d]) == 1  # not pending any more
    assert main(["accounts", "reject", "bob", *d]) == 1
    assert main(["accounts", "list", *d]) == 0
    out = capsys.readouterr().out
    assert "Alice\tactive" in out and "bob\tactive" in out
    store = SqliteAccountStore(data_dir / "history.sqlite3")
    store.create(Account("carol", "carol", CREDS, pending=True))
    store.close()
    assert main(["accounts", "reject", "carol", *d]) == 0
    assert SqliteAccountStore(data_dir / "history.sqlite3").get("carol") is None


def test_no_database(tmp_path: Path) -> None:
    assert main(["accounts", "list", "--data-dir", str(tmp_path / "empty")]) == 1


def test_cert_makes_a_usable_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cert", "--out", str(tmp_path), "--host", "irc.example.test"]) == 0
    out = capsys.readouterr().out
    assert "[tls]" in out and "SHA-256" in out
    assert (tmp_path / "hubbub.key").stat().st_mode & 0o077 == 0
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "hubbub.crt", tmp_path / "hubbub.key")
