"""Server configuration: a TOML file turned into frozen, validated dataclasses.

Every field has a default, so the server runs without any file. The sections and keys here are
the reference; docs/configuration.md describes each of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "hubbub"


@dataclass(frozen=True)
class ServerSection:
    name: str = "hubbub.local"
    network: str = "hubbub"
    description: str = "a hubbub chat server"
    motd: str = "Welcome to hubbub. Rooms here remember: join one and read what you missed."
    motd_file: str = ""  # when set, read at start-up and used instead of `motd`
    password: str = ""  # when set, clients must send PASS with it before registering
    casemapping: str = "rfc1459"  # or "ascii"
    data_dir: str = ""  # empty: $XDG_DATA_HOME/hubbub (~/.local/share/hubbub)


@dataclass(frozen=True)
class ListenSection:
    hosts: tuple[str, ...] = ("127.0.0.1",)
    port: int = 6667


@dataclass(frozen=True)
class LimitsSection:
    nick_length: int = 30
    channel_length: int = 64
    topic_length: int = 390
    kick_length: int = 390
    away_length: int = 390
    user_length: int = 16
    max_targets: int = 4
    modes_per_command: int = 4
    channels_per_user: int = 50
    list_modes: int = 100  # entries per channel list mode (bans)
    clients_per_ip: int = 16
    max_clients: int = 10_000
    sendq_bytes: int = 1_048_576
    whowas_entries: int = 1_000
    invalid_utf8: str = "replace"  # or "reject": drop the line and answer with a FAIL


@dataclass(frozen=True)
class FloodSection:
    enabled: bool = True
    burst: int = 20  # lines a client may send at once
    lines_per_second: float = 4.0  # sustained rate after the burst


@dataclass(frozen=True)
class TimeoutsSection:
    registration: float = 60.0  # seconds to complete NICK/USER/CAP before disconnect
    ping_interval: float = 90.0  # idle seconds before the server sends a PING
    ping_timeout: float = 120.0  # seconds without any data after that PING before disconnect


@dataclass(frozen=True)
class HistorySection:
    backend: str = "sqlite"  # or "memory" (nothing survives a restart)
    path: str = ""  # empty: <data_dir>/history.sqlite3
    replay_on_join: int = 50  # messages replayed to a newcomer; 0 turns replay off
    replay_plain_command: str = "PRIVMSG"  # or "NOTICE": how clients without batch see replay
    store_events: bool = False  # also store JOIN, PART, QUIT, TOPIC, KICK, NICK
    chathistory_max: int = 100  # most messages one CHATHISTORY request returns
    commit_interval_ms: int = 100  # longest time an accepted message waits to be durable
    max_messages_per_room: int = 0  # 0: no count limit
    max_age_days: float = 0.0  # 0: no age limit
    prune_interval: float = 3600.0  # seconds between retention sweeps
    store_private: bool = True  # keep private messages for their two parties


@dataclass(frozen=True)
class LogSection:
    level: str = "INFO"  # DEBUG also shows every raw line in and out


@dataclass(frozen=True)
class Config:
    server: ServerSection = field(default_factory=ServerSection)
    listen: ListenSection = field(default_factory=ListenSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    flood: FloodSection = field(default_factory=FloodSection)
    timeouts: TimeoutsSection = field(default_factory=TimeoutsSection)
    history: HistorySection = field(default_factory=HistorySection)
    log: LogSection = field(default_factory=LogSection)

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir) if self.server.data_dir else default_data_dir()

    @property
    def history_path(self) -> Path:
        return Path(self.history.path) if self.history.path else self.data_path / "history.sqlite3"
