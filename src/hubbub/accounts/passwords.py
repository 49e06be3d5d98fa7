"""Password hashing: argon2id for PLAIN and IDENTIFY, plus the SCRAM-SHA-256 keys.

Everything here is CPU-heavy (tens of milliseconds per argon2 call with the default cost) and
must never run on the event loop: the core only ever calls it inside a function it hands to the
account service, which runs on the account worker thread.

Nothing here logs, and no exception message carries a password.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stringprep
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hubbub.accounts.model import Credentials

__all__ = ["Hasher", "saslprep", "scram_keys"]

SALT_BYTES = 16


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep as far as SCRAM needs it: map, NFKC-normalise, refuse what is
    prohibited. A string that cannot be prepared is used as it is (RFC 5802 lets the server
    decide; both sides do the same here)."""
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    for c in prepared:
        if (
            stringprep.in_table_c12(c)
            or stringprep.in_table_c21_c22(c)
            or stringprep.in_table_c3(c)
            or stringprep.in_table_c4(c)
            or stringprep.in_table_c5(c)
            or stringprep.in_table_c6(c)
            or stringprep.in_table_c7(c)
            or stringprep.in_table_c8(c)
            or stringprep.in_table_c9(c)
            or stringprep.in_table_a1(c)
        ):
            return text
    return prepared


def scram_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) of RFC 5802 for SHA-256."""
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return stored_key, server_key


@dataclass(frozen=True)
class Hasher:
    """Makes and checks credentials with the configured costs."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4
    scram_iterations: int = 4096

    def _argon2(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=self.parallelism
        )

    def make(self, password: str) -> Credentials:
        """New credentials for `password`: an argon2id hash and fresh SCRAM keys."""
        salt = os.urandom(SALT_BYTES)
        stored_key, server_key = scram_keys(password, salt, self.scram_iterations)
        return Credentials(
            self._argon2().hash(password), salt, self.scram_iterations, stored_key, server_key
        )

    def verify(self, credentials: Credentials, password: str) -> bool:
        try:
            return self._argon2().verify(credentials.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, credentials: Credentials) -> bool:
        """The hash was made with other costs than the configured ones."""
        try:
            return self._argon2().check_needs_rehash(credentials.password_hash)
        except InvalidHashError:
            return True

    def waste(self, password: str) -> None:
        """Spend about as long as a verification (for unknown accounts: no timing oracle)."""
        self._argon2().hash(password)
