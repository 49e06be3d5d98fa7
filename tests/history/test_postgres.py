"""The PostgreSQL history store under failure, against a real throwaway cluster: unreachable at
open, a connection lost between append and commit, and PostgreSQL stopped and started again
under a running history worker (records kept, new ones refused meanwhile, reads failing with a
clear error, everything written once it is back, nothing twice)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from history_helpers import rec, remembers_what_a_rename_moves
from hypothesis import HealthCheck, given, settings
from test_contract import run, scenario

from hubbub.history.backends import open_store
from hubbub.history.memory import MemoryStore
from hubbub.history.postgres import PostgresStore
from hubbub.history.record import Record, dm_key
from hubbub.history.worker import HistoryWorker
from hubbub.pg.database import DatabaseUnavailable, describe
from support.postgres_server import PostgresServer, find_bindir, shared_server
from support.servers import free_port
from support.waiting import wait_for

CHAN = "#room"


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A cluster of this test's own, which it may stop and start (the shared one stays up)."""
    shared_server()  # skips (or fails under HUBBUB_REQUIRE_E2E=1) without PostgreSQL
    with PostgresServer(find_bindir()) as server:
        yield server


def test_unreachable_at_open_is_one_clear_line() -> None:
    url = f"postgresql://hubbub@127.0.0.1:{free_port()}/hubbub"
    with pytest.raises(DatabaseUnavailable) as caught:
        PostgresStore(url)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(url) and "cannot connect to PostgreSQL" in message
    assert isinstance(caught.value, OSError)  # what the worker and the app treat as failure


def test_open_store_chooses_postgres_with_a_url() -> None:
    store = open_store("postgres", Path("unused.db"), shared_server().new_schema_url())
    assert isinstance(store, PostgresStore)
    store.close()


def test_the_schema_is_versioned_and_opening_again_keeps_the_records() -> None:
    url = shared_server().new_schema_url()
    store = PostgresStore(url)
    store.append([rec(CHAN, n) for n in range(3)])
    store.commit()
    assert store.schema_version == 5
    store.close()
    again = PostgresStore(url)
    assert [r.msgid for r in again.latest(CHAN, 10)] == [f"{CHAN}/{n}" for n in range(3)]
    again.close()


def test_a_version_1_history_gains_the_tables_of_renames() -> None:
    """A history written before renames remembered what they moved, set aside and sent on
    opens, keeps its records, and does all three from then on."""
    url = shared_server().new_schema_url()
    store = PostgresStore(url)
    store.append([rec("#old", 0)])
    store.commit()
    store.close()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE moved_msgids")
        connection.execute("DROP TABLE set_aside")
        connection.execute("DROP TABLE moved_away")
        connection.execute("UPDATE hubbub_schema SET version = 1 WHERE component = 'history'")
    again = PostgresStore(url)
    assert again.schema_version == 5
    assert remembers_what_a_rename_moves(again)
    again.close()


def test_appending_the_same_batch_again_stores_nothing_twice() -> None:
    store = PostgresStore(shared_server().new_schema_url())
    batch = [rec(CHAN, n) for n in range(5)]
    store.append(batch)
    store.commit()
    store.append(batch)
    store.append(batch[2:])
    store.commit()
    assert store.latest(CHAN, 100) == batch
    store.close()


def test_one_batch_keeps_its_order_and_stores_a_repeated_record_once() -> None:
    """A batch goes out in one round trip (savepoint, rows, release pipelined): the append
    order (`seq`, what CHATHISTORY pages through) is the batch's order, for channel and private
    rows mixed and times out of order, and a record twice in one batch is stored once."""
    store = PostgresStore(shared_server().new_schema_url())
    private = dm_key("alice", "bob")
    batch = [rec(CHAN if n % 3 else private, n, time_ms=5000 - n) for n in range(300)]
    store.append([*batch[:150], batch[7], *batch[150:], batch[200]])
    store.commit()
    with psycopg.connect(store._db.url) as connection:
        rows = connection.execute("SELECT msgid, party_a, party_b FROM records ORDER BY seq")
        stored = rows.fetchall()
    assert [msgid for msgid, _, _ in stored] == [r.msgid for r in batch]
    assert {(a, b) for msgid, a, b in stored if msgid.startswith(private)} == {("alice", "bob")}
    assert {(a, b) for msgid, a, b in stored if msgid.startswith(CHAN)} == {(None, None)}
    store.close()


def test_a_failing_statement_does_not_undo_the_open_batch() -> None:
    """A record PostgreSQL refuses (a time out of BIGINT's range) fails alone: the records
    appended before it in the same, not yet committed transaction are still committed (in
    PostgreSQL a failed statement aborts the whole open transaction but for a savepoint)."""
    store = PostgresStore(shared_server().new_schema_url())
    store.append([rec(CHAN, 1)])
    with pytest.raises(psycopg.DataError):
        store.append([rec(CHAN, 2, time_ms=2**64)])
    store.append([rec(CHAN, 3)])
    store.commit()
    assert [r.msgid for r in store.latest(CHAN, 10)] == [f"{CHAN}/1", f"{CHAN}/3"]
    store.close()


def terminate_backends(url: str) -> None:
    """Cut every other connection to the database, as a restart or a network failure would."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid != pg_backend_pid()"
        )


def test_a_connection_lost_before_the_commit_fails_the_commit(own_server: PostgresServer) -> None:
    """Records appended on a connection that then died are gone with it: when a read is what
    notices, the next commit must fail (so the worker appends them again) rather than commit an
    empty transaction on a new connection."""
    store = PostgresStore(own_server.url)
    store.append([rec(CHAN, 1)])
    terminate_backends(own_server.url)
    with pytest.raises(DatabaseUnavailable):
        store.latest(CHAN, 10)
    with pytest.raises(DatabaseUnavailable, match="lost before the commit"):
        store.commit()
    store.append([rec(CHAN, 1)])  # what the worker does when it retries
    store.commit()
    assert [r.msgid for r in store.latest(CHAN, 10)] == [f"{CHAN}/1"]
    store.close()


def test_a_restart_under_the_worker_loses_and_duplicates_nothing(
    own_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    worker = HistoryWorker(
        lambda: PostgresStore(own_server.url),
        commit_interval_ms=5,
        retry_first=0.05,
        retry_max=0.2,
    )
    worker.start()
    try:
        before = [rec(CHAN, n) for n in range(10)]
        for record in before:
            assert worker.append(record)
        assert worker.flush(10)

        own_server.stop()
        during = [rec(CHAN, n) for n in range(10, 15)]
        for record in during:
            assert worker.append(record)  # accepted: the worker finds out when it writes
        wait_for(lambda: worker.failing, what="the worker to notice PostgreSQL is gone")
        assert not worker.available  # the core refuses new messages now
        read = worker.submit(lambda store: store.latest(CHAN, 100))
        with pytest.raises(DatabaseUnavailable, match="PostgreSQL"):
            read.result(10)

        own_server.start()
        wait_for(lambda: not worker.failing, what="the worker to recover")
        assert worker.available
        after = [rec(CHAN, n) for n in range(15, 20)]
        for record in after:
            assert worker.append(record)
        assert worker.flush(10)
        stored = worker.submit(lambda store: store.latest(CHAN, 100)).result(10)
        assert stored == before + during + after
    finally:
        worker.stop(10)
    failing = [r for r in caplog.records if "history store failing" in r.getMessage()]
    recovered = [r for r in caplog.records if "history store recovered" in r.getMessage()]
    assert len(failing) == 1 and len(recovered) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_postgres_matches_memory(
    case: tuple[bool, list[Record], int, list[tuple[Any, ...]], int],
) -> None:
    """The property test of test_contract.py (SQLite against memory), for PostgreSQL: the same
    histories and queries (clock steps back, duplicate msgids, retention) give the same
    answers."""
    _, records, split, queries, prune = case
    postgres = PostgresStore(shared_server().new_schema_url())
    memory = MemoryStore()
    try:
        for store in (postgres, memory):
            store.append(records[:split])
            store.append(records[split:])
        postgres.commit()
        for query in queries:
            assert run(postgres, query) == run(memory, query), query
        if prune:
            assert postgres.prune(60, prune, 30) == memory.prune(60, prune, 30)
            for query in queries:
                assert run(postgres, query) == run(memory, query), query
    finally:
        postgres.close()


def test_a_connection_on_a_high_descriptor_is_kept() -> None:
    """A busy server's store may reconnect on a descriptor above 1024 (select's limit): the
    check for a hung-up connection must not take it for dead and reconnect at every call."""
    import resource
    import socket

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"descriptor limit {hard} < 1200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    filler = [socket.socket() for _ in range(1030)]
    try:
        store = PostgresStore(shared_server().new_schema_url())
        connection = store._db.connect()
        assert connection.fileno() > 1024
        store.append([rec(CHAN, 1)])
        store.commit()
        assert store.latest(CHAN, 5) == [rec(CHAN, 1)]
        assert store._db.connect() is connection
        store.close()
    finally:
        for sock in filler:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_newer_schema_is_refused() -> None:
    url = shared_server().new_schema_url()
    PostgresStore(url).close()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("UPDATE hubbub_schema SET version = 99 WHERE component = 'history'")
    with pytest.raises(RuntimeError, match="history schema version 99 is newer"):
        PostgresStore(url)


def test_messages_never_show_the_password() -> None:
    url = f"postgresql://hubbub:s3cret@127.0.0.1:{free_port()}/hubbub?sslmode=disable"
    assert describe(url) == url.split("?")[0].replace(":s3cret", "")
    with pytest.raises(DatabaseUnavailable) as caught:
        PostgresStore(url)
    assert "s3cret" not in str(caught.value)


def _waits_on_a_lock(url: str) -> bool:
    """Whether a session of the test's database waits for a lock (a row's, an advisory one)."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def _late_copy_while(
    url: str, change: Callable[[PostgresStore, Record], object]
) -> list[tuple[str, str]]:
    """Node A's `change` of its committed message, its transaction not committed yet (its
    worker commits on its own time), while node B's late copy of the message is written: B's
    insert waits on A's row until A commits, or comes after A's change. The message, as the
    store has it in the end."""
    sender, late = PostgresStore(url), PostgresStore(url)
    record = rec(CHAN, 1)
    sender.append([record])
    sender.commit()
    change(sender, record)
    writing = threading.Thread(target=late.append, args=([record],))
    writing.start()
    wait_for(lambda: not writing.is_alive() or _waits_on_a_lock(url), what="the late insert")
    sender.commit()
    writing.join()
    late.commit()
    stored = [(r.target, r.msgid) for r in late.latest(CHAN, 10) + late.latest("#new", 10)]
    sender.close()
    late.close()
    return stored


def test_a_late_copy_written_while_a_redact_commits_stays_out() -> None:
    """A REDACT deletes the record and remembers its msgid in one statement, so that a late
    copy is ignored (HistoryStore.redact); but a late insert that waited on the deleted row
    read the remembered msgids before the REDACT committed, and went in, a redacted message
    back in history (docs/cluster.md used to list it under "Not yet"). A REDACT now waits for
    every node's open history writes and commits before any other starts."""
    url = shared_server().new_schema_url()
    assert _late_copy_while(url, lambda store, record: store.redact(CHAN, record.msgid)) == []


def test_a_late_copy_written_while_a_rename_moves_the_room_goes_with_it() -> None:
    """The same around a rename's move: the late copy, under the old name, is ignored (the
    record it copies was moved) rather than left under the old name too."""
    url = shared_server().new_schema_url()

    def rename(store: PostgresStore, record: Record) -> None:
        store.rename_target(CHAN, "#new", through_ms=record.time_ms + 1)

    assert _late_copy_while(url, rename) == [("#new", f"{CHAN}/1")]


def test_a_redact_waits_for_a_copy_another_node_has_not_committed() -> None:
    """Node B has inserted a copy of the message and not committed it yet when node A's REDACT
    comes: the REDACT waits for B's commit, then deletes it. (Not waiting, it found no row,
    remembered nothing, and B's copy stayed.)"""
    url = shared_server().new_schema_url()
    writer, redactor = PostgresStore(url), PostgresStore(url)
    record = rec(CHAN, 1)
    writer.append([record])
    result: list[bool] = []
    redacting = threading.Thread(target=lambda: result.append(redactor.redact(CHAN, record.msgid)))
    redacting.start()
    wait_for(lambda: not redacting.is_alive() or _waits_on_a_lock(url), what="the REDACT")
    writer.commit()
    redacting.join()
    assert result == [True]
    assert writer.latest(CHAN, 10) == []
    writer.close()
    redactor.close()
