"""Accounts in memory: for tests and for `history.backend = "memory"` servers."""

from __future__ import annotations

import dataclasses
from typing import Any

from hubbub.accounts.model import Account, Credentials

__all__ = ["MemoryAccountStore"]


class MemoryAccountStore:
    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._certs: dict[str, str] = {}  # certfp -> fold
        self._markers: dict[tuple[str, str], int] = {}  # (fold, target) -> time_ms
        self._metadata: dict[str, dict[str, str]] = {}  # fold -> key -> value

    def create(self, account: Account) -> bool:
        if account.fold in self._accounts or any(fp in self._certs for fp in account.certfps):
            return False
        if any(a.stable_id == account.stable_id for a in self._accounts.values()):
            return False
        if not account.id:
            account = dataclasses.replace(account, id=account.stable_id)
        self._accounts[account.fold] = account
        for fp in account.certfps:
            self._certs[fp] = account.fold
        return True

    def get(self, fold: str) -> Account | None:
        return self._accounts.get(fold)

    def find_by_cert(self, certfp: str) -> Account | None:
        fold = self._certs.get(certfp)
        return self._accounts.get(fold) if fold is not None else None

    def names(self) -> list[str]:
        return sorted(self._accounts)

    def ids(self) -> dict[str, str]:
        return {fold: account.stable_id for fold, account in self._accounts.items()}

    def accounts(self, pending_only: bool = False) -> list[Account]:
        found = [a for a in self._accounts.values() if a.pending or not pending_only]
        return sorted(found, key=lambda a: a.fold)

    def _replace(self, fold: str, **changes: Any) -> bool:
        account = self._accounts.get(fold)
        if account is None:
            return False
        self._accounts[fold] = dataclasses.replace(account, **changes)
        return True

    def set_credentials(self, fold: str, credentials: Credentials) -> bool:
        return self._replace(fold, credentials=credentials)

    def approve(self, fold: str) -> bool:
        account = self._accounts.get(fold)
        if account is None or not account.pending:
            return False
        return self._replace(fold, pending=False)

    def delete(self, fold: str) -> bool:
        account = self._accounts.pop(fold, None)
        if account is None:
            return False
        for fp in account.certfps:
            self._certs.pop(fp, None)
        for key in [key for key in self._markers if key[0] == fold]:
            del self._markers[key]
        self._metadata.pop(fold, None)
        return True

    def add_cert(self, fold: str, certfp: str) -> bool:
        account = self._accounts.get(fold)
        if account is None or certfp in self._certs:
            return False
        self._certs[certfp] = fold
        return self._replace(fold, certfps=(*account.certfps, certfp))

    def remove_cert(self, fold: str, certfp: str) -> bool:
        account = self._accounts.get(fold)
        if account is None or self._certs.get(certfp) != fold:
            return False
        del self._certs[certfp]
        return self._replace(fold, certfps=tuple(fp for fp in account.certfps if fp != certfp))

    def read_marker(self, fold: str, target: str) -> int | None:
        return self._markers.get((fold, target))

    def set_read_marker(self, fold: str, target: str, time_ms: int) -> int | None:
        if fold not in self._accounts:
            return None
        key = (fold, target)
        stored = max(self._markers.get(key, time_ms), time_ms)
        self._markers[key] = stored
        return stored

    def metadata(self, fold: str) -> dict[str, str]:
        return dict(self._metadata.get(fold, {}))

    def save_metadata(self, fold: str, values: dict[str, str]) -> bool:
        if fold not in self._accounts:
            return False
        self._metadata[fold] = dict(values)
        return True

    def close(self) -> None:
        pass
