"""What an account is: a name, a stable id, its credentials, its linked certificates, its standing.

**The id** names this account and no other, ever: history is attributed to it (private
conversations are keyed `~<id>`, `Record.account` holds the sender's id), so that when an
account is dropped and someone else registers the same name, the newcomer gets a new id and
none of the old owner's history. An id is the account's name followed by `!` and random hex
(`new_account_id`); `!` cannot be in a name, so `account_name` gets the name back for display.
Accounts made before ids existed keep their bare name as id (the keys their history already
has).
"""

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
    id: str = ""  # the stable id (see the module docstring); "" is read as `name`

    @property
    def stable_id(self) -> str:
        return self.id or self.name


ID_SEPARATOR = "!"


def new_account_id(name: str, token: str) -> str:
    """A new account's id: its name and `token` (random hex, from the caller's randomness)."""
    return f"{name}{ID_SEPARATOR}{token}"


def account_name(account_id: str) -> str:
    """The account name an id (or a legacy bare name) stands for, for display."""
    return account_id.partition(ID_SEPARATOR)[0]
