"""The registry in memory: for tests and for `history.backend = "memory"` servers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from hubbub.registry.model import REGISTRATION, RegisteredChannel, ServerBan

__all__ = ["MemoryRegistryStore"]


class MemoryRegistryStore:
    def __init__(self) -> None:
        self._channels: dict[str, RegisteredChannel] = {}
        self._bans: dict[tuple[str, str], ServerBan] = {}
        self._metadata: dict[str, dict[str, str]] = {}  # fold -> key -> value

    def create_channel(self, channel: RegisteredChannel) -> bool:
        if channel.fold in self._channels:
            return False
        self._channels[channel.fold] = channel
        return True

    def save_channel(self, channel: RegisteredChannel) -> bool:
        if self.change_registration(channel.fold, lambda saved: channel) is None:
            return False
        self.save_state(channel)
        return True

    def save_state(
        self, channel: RegisteredChannel, metadata: Mapping[str, str] | None = None
    ) -> bool:
        saved = self._channels.get(channel.fold)
        if saved is None or not channel.replaces_state_of(saved):
            return False
        if metadata is not None:
            self._metadata[channel.fold] = dict(metadata)
        kept = {name: getattr(saved, name) for name in (*REGISTRATION, "registered_ms")}
        self._channels[channel.fold] = replace(channel, name=saved.name, **kept)
        return True

    def change_registration(
        self, fold: str, change: Callable[[RegisteredChannel], RegisteredChannel]
    ) -> RegisteredChannel | None:
        saved = self._channels.get(fold)
        if saved is None:
            return None
        changed = change(saved)
        registration = {name: getattr(changed, name) for name in REGISTRATION}
        self._channels[fold] = replace(saved, **registration)
        return self._channels[fold]

    def get_channel(self, fold: str) -> RegisteredChannel | None:
        return self._channels.get(fold)

    def channels(self) -> list[RegisteredChannel]:
        return [self._channels[fold] for fold in sorted(self._channels)]

    def rename_channel(self, fold: str, new_name: str, new_fold: str) -> bool:
        channel = self._channels.get(fold)
        if channel is None or (new_fold != fold and new_fold in self._channels):
            return False
        del self._channels[fold]
        self._channels[new_fold] = replace(
            channel, name=new_name, fold=new_fold, state_ms=0, state_seq=0
        )
        metadata = self._metadata.pop(fold, None)
        if metadata is not None:
            self._metadata[new_fold] = metadata
        return True

    def delete_channel(self, fold: str) -> bool:
        self._metadata.pop(fold, None)
        return self._channels.pop(fold, None) is not None

    def channel_metadata(self) -> dict[str, dict[str, str]]:
        return {fold: dict(values) for fold, values in sorted(self._metadata.items()) if values}

    def change_channel_metadata(self, fold: str, changes: Sequence[tuple[str, str | None]]) -> bool:
        if fold not in self._channels:
            return False
        values = self._metadata.setdefault(fold, {})
        for key, value in changes:
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        return True

    def channels_of(self, owner: str) -> list[RegisteredChannel]:
        wanted = owner.casefold()
        return [c for c in self.channels() if c.owner.casefold() == wanted]

    def add_ban(self, ban: ServerBan) -> bool:
        key = (ban.kind, ban.mask)
        before = self._bans.pop(key, None)  # a replaced ban moves to the end (newest)
        self._bans[key] = ban
        return before is None or before.removed

    def remove_ban(self, kind: str, mask: str, removed: ServerBan | None = None) -> bool:
        before = self._bans.pop((kind, mask), None)
        if removed is not None:
            self._bans[(kind, mask)] = removed
        return before is not None and not before.removed

    def replace_ban(
        self, kind: str, mask: str, expected: ServerBan | None, ban: ServerBan | None
    ) -> bool:
        if self._bans.get((kind, mask)) != expected or (expected is None and ban is None):
            return False
        if ban is None:
            del self._bans[(kind, mask)]
        else:
            self.add_ban(ban)
        return True

    def bans(self) -> list[ServerBan]:
        return [ban for ban in self._bans.values() if not ban.removed]

    def expire_bans(self, now_ms: int) -> int:
        gone = [ban for ban in self._bans.values() if ban.expired(now_ms)]
        for ban in gone:
            del self._bans[(ban.kind, ban.mask)]
        return sum(1 for ban in gone if not ban.removed)

    def close(self) -> None:
        pass
