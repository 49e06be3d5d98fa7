"""The contract every registry back-end fulfils (memory, SQLite).

Plain blocking calls, like the account store's: the server never calls them on its event loop
but through `hubbub.registry.worker`, which owns one store on one thread. Every write is durable
when the call returns (these changes are rare: a ChanServ command, a topic, a K-line).

Channels are keyed by their casefolded name (`fold`), server bans by (kind, mask) — the mask
exactly as the operator's command normalised it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from hubbub.registry.model import RegisteredChannel, ServerBan


class ChannelStore(Protocol):
    def create_channel(self, channel: RegisteredChannel) -> bool:
        """Register a channel; False (and nothing stored) if `channel.fold` is registered."""

    def save_channel(self, channel: RegisteredChannel) -> bool:
        """Save a registered channel's registration and its state (the state as `save_state`
        does), in one transaction; False (nothing changed) if it is not registered."""

    def save_state(
        self, channel: RegisteredChannel, metadata: Mapping[str, str] | None = None
    ) -> bool:
        """Save a registered channel's state (topic, modes, lists, creation time and the
        version saying which state it is), and given `metadata`, its metadata whole (the
        keys not in it deleted), its registration kept, unless the saved state is newer
        (`RegisteredChannel.replaces_state_of`): a cluster node's save committing after
        another node's later one keeps the later. In one transaction. False (nothing
        changed) if the channel is not registered or its saved state is newer."""

    def change_registration(
        self, fold: str, change: Callable[[RegisteredChannel], RegisteredChannel]
    ) -> RegisteredChannel | None:
        """Change a registered channel's registration (owner, operators, history access) to
        what `change` makes of the one saved, read and written in one transaction (the row
        locked), its state kept: of two cluster nodes' changes of one registration (an ACCESS
        ADD on each), neither undoes the other. The channel as saved then; None (nothing
        changed) if it is not registered."""

    def get_channel(self, fold: str) -> RegisteredChannel | None:
        """The registered channel with this casefolded name."""

    def channels(self) -> list[RegisteredChannel]:
        """Every registered channel, by fold."""

    def rename_channel(self, fold: str, new_name: str, new_fold: str) -> bool:
        """A registered channel was renamed (draft/channel-rename): its entry moves to
        `new_fold` with the name `new_name`, its metadata with it, everything else kept but
        the version of its state, which starts again (0, 0): the renamed room's events are a
        sequence of their own. False (nothing changed) if `fold` is not registered or
        `new_fold` is another registered channel."""

    def delete_channel(self, fold: str) -> bool:
        """Forget a registered channel; False if there was none."""

    def channels_of(self, owner: str) -> list[RegisteredChannel]:
        """The channels whose owner is this account name (compared case-insensitively)."""

    def channel_metadata(self) -> dict[str, dict[str, str]]:
        """Every registered channel's metadata (IRCv3 metadata), by fold; channels without
        any are left out. It goes when the channel is dropped."""

    def change_channel_metadata(self, fold: str, changes: Sequence[tuple[str, str | None]]) -> bool:
        """Set (a value) or delete (None) these keys of a registered channel's metadata, in
        order, its other keys kept: two changes of different keys made at once (on two nodes
        of a cluster, each not knowing the other's) both stay. False (nothing changed) if the
        channel is not registered."""


class BanStore(Protocol):
    def add_ban(self, ban: ServerBan) -> bool:
        """Store a ban, replacing one of the same kind and mask (or the record of its
        removal); True if it was new."""

    def remove_ban(self, kind: str, mask: str, removed: ServerBan | None = None) -> bool:
        """Remove a ban; False if there was none. `removed` (a cluster node's: hubbub.
        registry.model `removal`) is stored in its place, whether or not there was one."""

    def replace_ban(
        self, kind: str, mask: str, expected: ServerBan | None, ban: ServerBan | None
    ) -> bool:
        """If what is stored for this kind and mask is `expected` (a ban, the record of its
        removal; None: nothing at all), make it `ban` (None: nothing), as `add_ban` and
        `remove_ban` do; True if it wrote it. A cluster node writes each ban event it
        applies this way, from the ban as the events before it left it: a node applying an
        earlier event late does not write back over a later one, nor over a removal stored
        before it was announced (hubbub.core.cluster_users)."""

    def bans(self) -> list[ServerBan]:
        """Every stored ban (expired ones included until `expire_bans` removes them), oldest
        first; the records of removals are not bans, and left out."""

    def expire_bans(self, now_ms: int) -> int:
        """Remove the bans (and records of removals) whose expiry is at or before `now_ms`;
        how many bans went."""


class RegistryStore(ChannelStore, BanStore, Protocol):
    def close(self) -> None:
        """Release the store's resources."""
