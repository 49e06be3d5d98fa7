"""Change numbers of remote users' state, so each change is applied once and in order.

A user's home node numbers each change of its state (away and modes, account, metadata) and
sequences it in every room the user is in; another node may therefore receive the same change
several times (once per shared room), and an older change after a newer one (rooms are
ordered each on its own). `ChangeNumbers` keeps, per remote user, the last number applied.
"""

from __future__ import annotations

from collections.abc import Mapping

from hubbub.core.model import User


class ChangeNumbers:
    """The last change number applied per remote user, for one kind of state."""

    __slots__ = ("applied",)

    def __init__(self) -> None:
        self.applied: dict[User, int] = {}

    def last(self, user: User) -> int:
        """The last number applied for `user` (0: none yet)."""
        return self.applied.get(user, 0)

    def take(self, user: User, number: int, users: Mapping[str, User]) -> bool:
        """True, and `number` recorded, when it is newer than the last applied for `user`.
        Users gone from `users` (the server's, by fold) are dropped now and then, so the
        table stays within about twice the users known."""
        applied = self.applied
        if applied.get(user, 0) >= number:
            return False  # this change (or a later one) came through another room already
        if len(applied) > 2 * len(users) + 16:
            self.applied = applied = {
                known: seen for known, seen in applied.items() if users.get(known.fold) is known
            }
        applied[user] = number
        return True

    def forget(self, user: User) -> None:
        self.applied.pop(user, None)
