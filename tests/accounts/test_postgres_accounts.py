"""The PostgreSQL account and registry stores across a real PostgreSQL restart: a call made
while it is down fails with a clear `DatabaseUnavailable`, and the first call once it is back
works (the stores replace the connection the server hung up on before using it); and
`hubbub accounts` on a PostgreSQL store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.accounts.model import Account, Credentials
from hubbub.accounts.postgres import PostgresAccountStore
from hubbub.cli import main
from hubbub.pg.database import DatabaseUnavailable
from hubbub.registry.model import ServerBan
from hubbub.registry.postgres import PostgresRegistryStore
from support.postgres_server import PostgresServer, find_bindir, shared_server


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    shared_server()  # skips (or fails under HUBBUB_REQUIRE_E2E=1) without PostgreSQL
    with PostgresServer(find_bindir()) as server:
        yield server


def test_the_first_call_after_a_restart_works(own_server: PostgresServer) -> None:
    accounts = PostgresAccountStore(own_server.url)
    registry = PostgresRegistryStore(own_server.url)
    alice = Account(
        "Alice", "alice", Credentials("$argon2id$x", b"s", 4096, b"k", b"k"), id="Alice!0f"
    )
    assert accounts.create(alice)
    assert registry.add_ban(ServerBan("K", "*@bad", "spam", "oper", 1))

    own_server.stop()
    with pytest.raises(DatabaseUnavailable, match="PostgreSQL") as caught:
        accounts.get("alice")
    assert "\n" not in str(caught.value)
    with pytest.raises(DatabaseUnavailable):
        registry.bans()

    own_server.start()
    assert accounts.get("alice") == alice
    assert [ban.mask for ban in registry.bans()] == ["*@bad"]
    accounts.close()
    registry.close()


def test_an_idle_connection_is_replaced_after_a_restart(own_server: PostgresServer) -> None:
    """Nothing is called while PostgreSQL restarts: the next call still works at once."""
    accounts = PostgresAccountStore(own_server.url)
    assert accounts.names() == []
    own_server.stop()
    own_server.start()
    assert accounts.names() == []
    accounts.close()


def test_the_accounts_command_on_postgres(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shared_server().new_schema_url()
    store = PostgresAccountStore(url)
    credentials = Credentials("$argon2id$x", b"s", 4096, b"k", b"k")
    assert store.create(Account("Alice", "alice", credentials, pending=True, id="Alice!1"))
    store.close()
    config = tmp_path / "hubbub.toml"
    config.write_text(f'[history]\nbackend = "postgres"\nurl = "{url}"\n')
    assert main(["accounts", "list", "--pending", "--config", str(config)]) == 0
    assert capsys.readouterr().out.split("\t")[:2] == ["Alice", "pending"]
    assert main(["accounts", "approve", "alice", "--config", str(config)]) == 0
    check = PostgresAccountStore(url)
    found = check.get("alice")
    check.close()
    assert found is not None and not found.pending
