"""The contract every account back-end fulfils (memory, SQLite).

Plain blocking calls. The server never calls them on its event loop: it goes through
`hubbub.accounts.worker`, which owns one store on one thread. Every write is durable when the
call returns (account changes are rare; there is no batching).

Names are keyed by their casefolded form (`fold`), which the caller computes with the server's
casemapping. A certificate fingerprint (lower-case hex SHA-256 of the DER certificate) belongs
to at most one account.

Read markers (`read_marker`, `set_read_marker`) belong to the account: they only ever move
forward, and go when the account is deleted. So does its metadata (`metadata`,
`save_metadata`: the whole key/value map replaced at once).
"""

from __future__ import annotations

from typing import Protocol

from hubbub.accounts.model import Account, Credentials


class AccountStore(Protocol):
    def create(self, account: Account) -> bool:
        """Store a new account; False (and nothing stored) if `account.fold` is taken."""

    def get(self, fold: str) -> Account | None:
        """The account with this casefolded name."""

    def find_by_cert(self, certfp: str) -> Account | None:
        """The account this certificate fingerprint is linked to."""

    def names(self) -> list[str]:
        """The casefolded names of every account, pending ones included."""

    def ids(self) -> dict[str, str]:
        """Every account's stable id (`Account.stable_id`) by casefolded name."""

    def accounts(self, pending_only: bool = False) -> list[Account]:
        """Every account (or only those awaiting approval), by name."""

    def set_credentials(self, fold: str, credentials: Credentials) -> bool:
        """Replace an account's password; False if there is no such account."""

    def approve(self, fold: str) -> bool:
        """Make a pending account usable; False if there is no such pending account."""

    def delete(self, fold: str) -> bool:
        """Remove an account and its certificates; False if there was none."""

    def add_cert(self, fold: str, certfp: str) -> bool:
        """Link a fingerprint to an account; False if the account does not exist or the
        fingerprint is already linked (to it or to another account)."""

    def remove_cert(self, fold: str, certfp: str) -> bool:
        """Unlink a fingerprint from an account; False if it was not linked to it."""

    def read_marker(self, fold: str, target: str) -> int | None:
        """The read marker (IRCv3 draft/read-marker: time in ms of the last message read) of
        this account for this casefolded target, or None when none was ever set."""

    def set_read_marker(self, fold: str, target: str, time_ms: int) -> int | None:
        """Move the marker forward to `time_ms` (never backwards: an older time leaves it as
        it is) and return the marker as stored now; None if there is no such account."""

    def metadata(self, fold: str) -> dict[str, str]:
        """The account's metadata (IRCv3 metadata: key -> value); empty when none."""

    def save_metadata(self, fold: str, values: dict[str, str]) -> bool:
        """Replace the account's metadata with `values`; False if there is no such account."""

    def close(self) -> None:
        """Release the store's resources."""
