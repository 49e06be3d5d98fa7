"""What an account is: a name, its credentials, its linked certificates, its standing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Credentials:
    """Everything needed to check a password, without the password.

    `password_hash` is an argon2id PHC string (PLAIN, NickServ IDENTIFY). The SCRAM-SHA-256
    values (RFC 5802: salt, iteration count, StoredKey, ServerKey) are derived from the same
    password when it is set, because SCRAM needs them and they cannot come from the argon2 hash.
    """

    password_hash: str
    scram_salt: bytes
    scram_iterations: int
    stored_key: bytes
    server_key: bytes

    def __repr__(self) -> str:  # never print key material by accident
        return "Credentials(…)"


@dataclass(frozen=True, slots=True)
class Account:
    """One registered account. `fold` (the casefolded name) is the key; `name` keeps its case.

    `pending` accounts were registered while `accounts.registration = "approval"`: the name is
    taken, but nobody can log in until an operator approves it.
    """

    name: str
    fold: str
    credentials: Credentials
    email: str = ""
    created_ms: int = 0
    pending: bool = False
    certfps: tuple[str, ...] = ()
