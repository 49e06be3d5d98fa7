"""Password hashing, SCRAM-SHA-256 against RFC 7677's example, the worker and the service."""

from __future__ import annotations

import asyncio
import base64
import threading
from pathlib import Path

import pytest

from hubbub.accounts.memory import MemoryAccountStore
from hubbub.accounts.model import Credentials
from hubbub.accounts.passwords import Hasher, saslprep, scram_keys
from hubbub.accounts.scram import ScramClient, ScramError, ScramServer
from hubbub.accounts.service import AccountFailure, LoopAccountService
from hubbub.accounts.sqlite import SqliteAccountStore
from hubbub.accounts.store import AccountStore
from hubbub.accounts.worker import AccountWorker
from hubbub.config import AccountsSection
from support.core_services import SyncService

FAST = Hasher(time_cost=1, memory_kib=64, parallelism=1)

# RFC 7677, section 3.
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def rfc_credentials() -> Credentials:
    stored, server = scram_keys("pencil", RFC_SALT, 4096)
    return Credentials("", RFC_SALT, 4096, stored, server)


def test_scram_server_matches_rfc_7677() -> None:
    server = ScramServer(nonce=RFC_SERVER_NONCE)
    assert server.client_first(RFC_CLIENT_FIRST) == "user"
    assert server.server_first(RFC_SALT, 4096) == RFC_SERVER_FIRST
    assert server.client_final(RFC_CLIENT_FINAL, rfc_credentials()) == RFC_SERVER_FINAL


def test_scram_client_matches_rfc_7677() -> None:
    client = ScramClient("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert client.first() == RFC_CLIENT_FIRST
    assert client.final(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    assert client.verify(RFC_SERVER_FINAL)


def test_scram_refuses_a_wrong_proof_and_malformed_messages() -> None:
    server = ScramServer(nonce=RFC_SERVER_NONCE)
    server.client_first(RFC_CLIENT_FIRST)
    server.server_first(RFC_SALT, 4096)
    stored, key = scram_keys("not pencil", RFC_SALT, 4096)
    with pytest.raises(ScramError):
        server.client_final(RFC_CLIENT_FINAL, Credentials("", RFC_SALT, 4096, stored, key))
    with pytest.raises(ScramError):
        server.client_final(RFC_CLIENT_FINAL.replace(b"r=rOpr", b"r=XOpr"), rfc_credentials())
    for bad in (b"p=tls-unique,,n=user,r=abc", b"n,,r=abc", b"garbage", b"\xff\xfe"):
        with pytest.raises(ScramError):
            ScramServer().client_first(bad)


def test_scram_with_an_escaped_name_and_a_unicode_password() -> None:
    salt = b"0123456789abcdef"
    stored, key = scram_keys("pässwörd\u00a0x", salt, 4096)  # NBSP maps to a space
    credentials = Credentials("", salt, 4096, stored, key)
    client = ScramClient("we,ird=name", "pässwörd x")
    server = ScramServer()
    assert server.client_first(client.first()) == "we,ird=name"
    final = server.client_final(client.final(server.server_first(salt, 4096)), credentials)
    assert client.verify(final)


def test_saslprep() -> None:
    assert saslprep("I\u00adX") == "IX"  # soft hyphen maps to nothing
    assert saslprep("\u2168") == "IX"  # NFKC
    assert saslprep("a\u0007b") == "a\u0007b"  # prohibited: used as it is


def test_hasher_makes_argon2id_and_scram_keys() -> None:
    made = FAST.make("correct horse")
    assert made.password_hash.startswith("$argon2id$")
    assert "correct horse" not in repr(made) and "correct horse" not in made.password_hash
    assert FAST.verify(made, "correct horse")
    assert not FAST.verify(made, "wrong horse")
    assert not FAST.verify(Credentials("junk", b"", 1, b"", b""), "x")
    assert (made.stored_key, made.server_key) == scram_keys(
        "correct horse", made.scram_salt, made.scram_iterations
    )
    assert not FAST.needs_rehash(made)
    assert Hasher(time_cost=2, memory_kib=64, parallelism=1).needs_rehash(made)


def test_verify_hash_checks_an_operator_password() -> None:
    """The core's one password check for [[operators]] entries (a bare PHC string)."""
    phc = FAST.make("oper-secret").password_hash
    assert FAST.verify_hash(phc, "oper-secret")
    assert not FAST.verify_hash(phc, "wrong")
    assert not FAST.verify_hash("not a hash", "oper-secret")
    assert not FAST.verify_hash(None, "oper-secret")  # unknown name: a hash is spent anyway


def test_hasher_from_config_uses_the_configured_costs() -> None:
    settings = AccountsSection(hash_time_cost=2, hash_memory_kib=128, scram_iterations=5000)
    hasher = Hasher.from_config(settings)
    assert (hasher.time_cost, hasher.memory_kib, hasher.scram_iterations) == (2, 128, 5000)


def test_worker_runs_calls_on_its_own_thread(tmp_path: Path) -> None:
    opened_on: list[str] = []

    def opener() -> AccountStore:
        opened_on.append(threading.current_thread().name)
        return SqliteAccountStore(tmp_path / "db")

    worker = AccountWorker(opener)
    worker.start()
    try:
        ran_on = worker.submit(lambda store: threading.current_thread().name).result(5)
        assert ran_on == opened_on[0] != threading.current_thread().name
        assert worker.submit(lambda store: store.names()).result(5) == []
    finally:
        worker.stop()
        worker.stop()
    with pytest.raises(RuntimeError):
        worker.submit(lambda store: None).result(5)


def test_worker_start_raises_what_opening_raised(tmp_path: Path) -> None:
    def opener() -> AccountStore:
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        AccountWorker(opener).start()


@pytest.mark.asyncio
async def test_loop_service_answers_on_the_loop() -> None:
    worker = AccountWorker(MemoryAccountStore)
    worker.start()
    loop = asyncio.get_running_loop()
    service = LoopAccountService(worker, loop)
    answers: list[tuple[object, str]] = []
    done = asyncio.Event()

    def record(result: object) -> None:
        answers.append((result, threading.current_thread().name))
        if len(answers) == 2:
            done.set()

    def boom(store: AccountStore) -> None:
        raise ValueError("broken")

    service.call(lambda store: store.names(), record)
    service.call(boom, record)
    await asyncio.wait_for(done.wait(), 5)
    worker.stop()
    me = threading.current_thread().name
    assert answers[0] == ([], me)
    assert isinstance(answers[1][0], AccountFailure) and answers[1][1] == me


def test_sync_service_turns_exceptions_into_failures() -> None:
    service = SyncService(MemoryAccountStore())
    got: list[object] = []

    def boom(store: AccountStore) -> None:
        raise ValueError("broken")

    service.call(boom, got.append)
    assert isinstance(got[0], AccountFailure)
