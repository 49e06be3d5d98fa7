"""Password hashing: argon2id for PLAIN and IDENTIFY, plus the SCRAM-SHA-256 keys.

Everything here is CPU-heavy (tens of milliseconds per argon2 call with the default cost) and
must never run on the event loop: the core only ever calls it inside a function it hands to the
account service, which runs on the account worker thread.

Nothing here logs, and no exception message carries a password.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hubbub.accounts.model import Credentials
from hubbub.accounts.scram import saslprep, scram_keys
from hubbub.config import AccountsSection

__all__ = ["Hasher", "saslprep", "scram_keys"]

SALT_BYTES = 16


@dataclass(frozen=True)
class Hasher:
    """Makes and checks credentials with the configured costs (the core's `Passwords` port)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4
    scram_iterations: int = 4096

    @classmethod
    def from_config(cls, accounts: AccountsSection) -> Hasher:
        """The hasher for the `[accounts]` costs (the core's `PasswordsFactory`)."""
        return cls(
            time_cost=accounts.hash_time_cost,
            memory_kib=accounts.hash_memory_kib,
            scram_iterations=accounts.scram_iterations,
        )

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

    def verify_hash(self, phc: str | None, password: str) -> bool:
        """Check a password against a bare argon2 PHC string (an operator's, from the config:
        its costs are read from the string). None costs a hash too, so timing does not tell an
        unknown name apart."""
        if phc is None:
            self.waste(password)
            return False
        try:
            return PasswordHasher().verify(phc, password)
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
