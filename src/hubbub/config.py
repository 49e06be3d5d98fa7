"""Server configuration: a TOML file turned into frozen, validated dataclasses.

Every field has a default, so the server runs without any file. The sections and keys here are
the reference; docs/configuration.md describes each of them. Each field carries its own rule
(the type comes from the annotation; range, choices and a one-line explanation from `_setting`),
so `load_config` below and the commented example that `hubbub config defaults` prints
(`hubbub.config_text`) cannot drift from this list.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import math
import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def default_data_dir() -> Path:
    home_share = os.path.join(os.path.expanduser("~"), ".local", "share")
    base = os.environ.get("XDG_DATA_HOME") or home_share
    return Path(base) / "hubbub"


@dataclass(frozen=True)
class Rule:
    """What one setting accepts. The Python type comes from the field's annotation.

    `low`/`high` are inclusive bounds, `above` a strict lower bound (for "greater than 0").
    `check`, when set, must hold as well, and `expect` then describes what it wants.
    """

    doc: str
    low: float | None = None
    high: float | None = None
    above: float | None = None
    choices: tuple[str, ...] = ()
    check: Callable[[Any], bool] | None = None
    expect: str = ""
    path: bool = False  # relative paths resolve against the config file's directory
    multiline: bool = False  # line breaks allowed (the MOTD)
    upper: bool = False  # choices match case-insensitively and are stored upper-case


def _setting(default: T, doc: str, **rule: Any) -> T:
    # The Field object returned here becomes the dataclass default at run time; for type
    # checkers the attribute simply has a default of type T.
    result: T = field(default=default, metadata={"rule": Rule(doc=doc, **rule)})
    return result


def rule_of(section: Any, key: str) -> Rule:
    """The Rule of `key` in the section dataclass `section`."""
    (found,) = [f for f in dataclasses.fields(section) if f.name == key]
    rule = found.metadata["rule"]
    assert isinstance(rule, Rule)
    return rule


def _is_server_name(value: str) -> bool:
    # Servers need a "." in their name: clients tell a server source from a nick by it.
    return (
        0 < len(value) <= 63
        and "." in value
        and value[0].isascii()
        and value[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in ".-_") for c in value)
    )


def _is_token(value: str) -> bool:
    return bool(value) and all(c.isprintable() and not c.isspace() for c in value)


def _are_hosts(value: tuple[str, ...]) -> bool:
    return bool(value) and len(set(value)) == len(value) and all(map(_is_token, value))


@dataclass(frozen=True)
class ServerSection:
    """Who this server is and what it tells clients."""

    name: str = _setting(
        "hubbub.local",
        "The server's name, as clients see it in message sources. Must contain a dot.",
        check=_is_server_name,
        expect="a host-like name of at most 63 letters, digits, '.', '-' or '_' with a dot in it",
    )
    network: str = _setting(
        "hubbub",
        "The network name, advertised in ISUPPORT as NETWORK.",
        check=_is_token,
        expect="a name without spaces",
    )
    description: str = _setting("a hubbub chat server", "A one-line description of this server.")
    motd: str = _setting(
        "Welcome to hubbub. Rooms here remember: join one and read what you missed.",
        "The message of the day; may span several lines. Empty: no MOTD.",
        multiline=True,
    )
    motd_file: str = _setting(
        "",
        "When set, this file is read at start-up and replaces `motd`. A relative path is "
        "taken from the config file's directory.",
        path=True,
        expect="a file path, or empty",
    )
    password: str = _setting(
        "",
        "When set, clients must send PASS with it before registering.",
    )
    casemapping: str = _setting(
        "rfc1459",
        "How nick and channel names compare: rfc1459 also folds []\\~ to {}|^. Advertised as "
        "CASEMAPPING.",
        choices=("rfc1459", "ascii"),
    )
    data_dir: str = _setting(
        "",
        "Where durable state lives. Empty: $XDG_DATA_HOME/hubbub (~/.local/share/hubbub). A "
        "relative path is taken from the config file's directory.",
        path=True,
        expect="a directory path, or empty",
    )


@dataclass(frozen=True)
class ListenSection:
    """Where the server accepts plain-text IRC connections."""

    hosts: tuple[str, ...] = _setting(
        ("127.0.0.1",),
        'Addresses to listen on, one socket each: "0.0.0.0" and "::" mean every interface. '
        "A single string is accepted too.",
        check=_are_hosts,
        expect="a non-empty list of distinct addresses or host names",
    )
    port: int = _setting(
        6667,
        "TCP port for every address in `hosts`. 0: pick a free port (for tests).",
        low=0,
        high=65535,
    )


def _is_origin(value: str) -> bool:
    # "*", or scheme://host[:port] as a browser sends it in the Origin header.
    if value == "*":
        return True
    match = re.fullmatch(r"(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?", value)
    return match is not None


def _are_origins(value: tuple[str, ...]) -> bool:
    return len(set(value)) == len(value) and all(map(_is_origin, value))


@dataclass(frozen=True)
class WebSection:
    """The web client: a page served over HTTP and IRC over WebSocket on the same port."""

    enabled: bool = _setting(
        True, "Serve the web client and accept IRC over WebSocket (IRCv3 websocket spec)."
    )
    hosts: tuple[str, ...] = _setting(
        ("127.0.0.1",),
        'Addresses the web listener binds, one socket each: "0.0.0.0" and "::" mean every '
        "interface. A single string is accepted too.",
        check=_are_hosts,
        expect="a non-empty list of distinct addresses or host names",
    )
    port: int = _setting(
        8080,
        "HTTP and WebSocket port for every address in `hosts`. 0: pick a free port (for tests).",
        low=0,
        high=65535,
    )
    allowed_origins: tuple[str, ...] = _setting(
        (),
        "Origins (scheme://host[:port]) whose pages may open a WebSocket here, besides the "
        'page\'s own origin (same-origin is always allowed). "*" allows any origin.',
        check=_are_origins,
        expect='a list of distinct origins such as "https://chat.example.org", or "*"',
    )


@dataclass(frozen=True)
class TlsSection:
    """TLS: an encrypted listener beside the plain one, on only when a certificate is set."""

    cert: str = _setting(
        "",
        "The certificate (PEM, chain first). Setting it turns the TLS listener on. "
        "`hubbub cert` makes a self-signed pair. A relative path is taken from the config "
        "file's directory. SIGHUP reloads it.",
        path=True,
        expect="a file path, or empty",
    )
    key: str = _setting(
        "",
        "The certificate's private key (PEM). Empty: the key is in the `cert` file.",
        path=True,
        expect="a file path, or empty",
    )
    hosts: tuple[str, ...] = _setting(
        (),
        "Addresses the TLS listener binds. Empty: the same as listen.hosts.",
        check=lambda value: not value or _are_hosts(value),
        expect="a list of distinct addresses or host names (empty: listen.hosts)",
    )
    port: int = _setting(
        6697, "TLS port for every address. 0: pick a free port (for tests).", low=0, high=65535
    )
    require_tls: bool = _setting(
        False,
        "Refuse registration over plain text (loopback connections are exempt).",
    )


@dataclass(frozen=True)
class LimitsSection:
    """Limits on names, lengths and resources; most are advertised in ISUPPORT."""

    nick_length: int = _setting(30, "Longest nickname (NICKLEN).", low=1, high=255)
    channel_length: int = _setting(
        64, "Longest channel name, '#' included (CHANNELLEN).", low=2, high=255
    )
    topic_length: int = _setting(390, "Longest topic (TOPICLEN).", low=1, high=510)
    kick_length: int = _setting(390, "Longest KICK reason (KICKLEN).", low=1, high=510)
    away_length: int = _setting(390, "Longest AWAY message (AWAYLEN).", low=1, high=510)
    user_length: int = _setting(16, "Longest user name (USERLEN).", low=1, high=255)
    max_targets: int = _setting(
        4, "Most targets in one PRIVMSG, NOTICE or TAGMSG (MAXTARGETS, TARGMAX).", low=1, high=100
    )
    modes_per_command: int = _setting(
        4, "Most parameterised mode changes in one MODE command (MODES).", low=1, high=100
    )
    channels_per_user: int = _setting(
        50, "Most channels one client may be in (CHANLIMIT=#:n).", low=1
    )
    list_modes: int = _setting(
        100, "Most entries per channel list mode, such as bans (MAXLIST=b:n).", low=1
    )
    clients_per_ip: int = _setting(16, "Most simultaneous connections from one address.", low=1)
    max_clients: int = _setting(10_000, "Most simultaneous connections in all.", low=1)
    sendq_bytes: int = _setting(
        1_048_576,
        "Bytes that may wait unsent to one client before it is dropped (SendQ exceeded).",
        low=512,
    )
    whowas_entries: int = _setting(1_000, "Departed nicks WHOWAS remembers; 0: none.", low=0)
    invalid_utf8: str = _setting(
        "replace",
        "Lines that are not UTF-8: replace bad bytes, or reject the line with a FAIL.",
        choices=("replace", "reject"),
    )


@dataclass(frozen=True)
class FloodSection:
    """Per-client flood control: a token bucket over received lines."""

    enabled: bool = _setting(True, "Throttle clients that send too fast (off for benchmarks).")
    burst: int = _setting(20, "Lines a client may send at once.", low=1)
    lines_per_second: float = _setting(4.0, "Sustained rate after the burst.", above=0)


@dataclass(frozen=True)
class TimeoutsSection:
    """How long the server waits for clients, in seconds."""

    registration: float = _setting(
        60.0, "Seconds to complete NICK/USER/CAP before disconnect.", above=0
    )
    ping_interval: float = _setting(90.0, "Idle seconds before the server sends a PING.", above=0)
    ping_timeout: float = _setting(
        120.0, "Seconds without any data after that PING before disconnect.", above=0
    )


@dataclass(frozen=True)
class HistorySection:
    """Durable room history: storage, replay on join and CHATHISTORY."""

    backend: str = _setting(
        "sqlite",
        "sqlite (durable, in the data directory) or memory (nothing survives a restart).",
        choices=("sqlite", "memory"),
    )
    path: str = _setting(
        "",
        "The SQLite file. Empty: <data_dir>/history.sqlite3. A relative path is taken from "
        "the config file's directory.",
        path=True,
        expect="a file path, or empty",
    )
    replay_on_join: int = _setting(
        50, "Messages replayed to a newcomer on join; 0 turns replay off.", low=0, high=10_000
    )
    replay_plain_command: str = _setting(
        "PRIVMSG",
        "How clients without the batch capability see replayed lines: PRIVMSG or NOTICE.",
        choices=("PRIVMSG", "NOTICE"),
        upper=True,
    )
    store_events: bool = _setting(False, "Also store JOIN, PART, QUIT, TOPIC, KICK and NICK.")
    chathistory_max: int = _setting(
        100, "Most messages one CHATHISTORY request returns (CHATHISTORY).", low=1, high=10_000
    )
    commit_interval_ms: int = _setting(
        100,
        "Longest time an accepted message waits to be durable; a hard kill loses at most this.",
        low=1,
        high=10_000,
    )
    max_messages_per_room: int = _setting(
        0, "Messages kept per room, oldest pruned first; 0: no count limit.", low=0
    )
    max_age_days: float = _setting(0.0, "Days messages are kept; 0: no age limit.", low=0)
    prune_interval: float = _setting(3600.0, "Seconds between retention sweeps.", above=0)
    store_private: bool = _setting(True, "Keep private messages, for their two parties.")
    default_access: str = _setting(
        "everyone",
        "Who may read a room's history unless its operators chose otherwise (ChanServ SET "
        "HISTORY): everyone who joins, since_join (only what was said since they joined) or "
        "registered (only logged-in users).",
        choices=("everyone", "since_join", "registered"),
    )


@dataclass(frozen=True)
class AccountsSection:
    """Accounts: registration, nick ownership, login throttling and password hashing."""

    registration: str = _setting(
        "immediate",
        "How REGISTER works: immediate (usable at once), approval (an operator approves it "
        "with `hubbub accounts approve NAME`) or closed.",
        choices=("immediate", "approval", "closed"),
    )
    nick_enforcement: str = _setting(
        "grace",
        "A registered nick used by someone not logged in to it: grace (renamed to a guest "
        "nick after grace_seconds), reject (433 unless logged in, by SASL before "
        "registration) or none.",
        choices=("grace", "reject", "none"),
    )
    grace_seconds: float = _setting(
        60.0, "Seconds to log in before a registered nick is taken away (grace).", low=0
    )
    min_password_length: int = _setting(8, "Shortest password REGISTER accepts.", low=1, high=300)
    login_attempts: int = _setting(
        5, "Failed logins allowed in a burst, per address and per account.", low=1
    )
    login_refill_seconds: float = _setting(
        60.0, "After the burst, one more failed login is allowed every this many seconds.", above=0
    )
    hash_time_cost: int = _setting(3, "argon2id passes over memory per password hash.", low=1)
    hash_memory_kib: int = _setting(
        65536, "argon2id memory per password hash, in KiB.", low=64, high=4_194_304
    )
    scram_iterations: int = _setting(
        4096,
        "PBKDF2 iterations of the SCRAM-SHA-256 keys (applies to passwords set afterwards).",
        low=4096,
        high=1_000_000,
    )
    max_channels: int = _setting(
        20, "Most channels one account may register with ChanServ; 0: none.", low=0
    )


@dataclass(frozen=True)
class LogSection:
    """Console logging (to standard error)."""

    level: str = _setting(
        "INFO",
        "DEBUG, INFO, WARNING or ERROR. DEBUG also shows every raw line in and out.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        upper=True,
    )


@dataclass(frozen=True)
class Operator:
    """One `[[operators]]` table: a name and password for OPER, from matching hosts only."""

    name: str
    password: str  # an argon2id hash (`hubbub oper-hash`), never the password itself
    host: str = "*@*"  # a user@host mask the client must match (wildcards * and ?)

    def __repr__(self) -> str:  # keep the hash out of reprs and logs
        return f"Operator(name={self.name!r}, host={self.host!r})"


OPERATOR_KEYS = ("name", "password", "host")


@dataclass(frozen=True)
class Config:
    server: ServerSection = field(default_factory=ServerSection)
    listen: ListenSection = field(default_factory=ListenSection)
    web: WebSection = field(default_factory=WebSection)
    tls: TlsSection = field(default_factory=TlsSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    flood: FloodSection = field(default_factory=FloodSection)
    timeouts: TimeoutsSection = field(default_factory=TimeoutsSection)
    history: HistorySection = field(default_factory=HistorySection)
    accounts: AccountsSection = field(default_factory=AccountsSection)
    log: LogSection = field(default_factory=LogSection)
    # [[operators]]: an array of tables, not a section of settings (see _operators).
    operators: tuple[Operator, ...] = field(default=(), metadata={"table_array": True})

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir) if self.server.data_dir else default_data_dir()

    @property
    def history_path(self) -> Path:
        return Path(self.history.path) if self.history.path else self.data_path / "history.sqlite3"


# --- loading -------------------------------------------------------------------------------------

MOTD_FILE_LIMIT = 64 * 1024  # bytes; a larger "MOTD" is surely the wrong file


class ConfigError(Exception):
    """A configuration that cannot be used; `str()` is the whole message for the operator.

    `key` is the dotted key at fault (None for problems with the file as a whole), `detail` the
    message without the key, `override` tells that the bad value came from `overrides` (command
    line flags) rather than the file, and `file` names the config file involved, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        detail: str | None = None,
        override: bool = False,
        file: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.detail = message if detail is None else detail
        self.override = override
        self.file = file

    @classmethod
    def for_key(
        cls, key: str, detail: str, *, override: bool = False, file: Path | None = None
    ) -> ConfigError:
        return cls(f"{key}: {detail}", key=key, detail=detail, override=override, file=file)


@dataclass(frozen=True)
class Setting:
    """One key of the configuration: where it lives, its Python type, rule and default."""

    section: str
    key: str
    kind: type  # bool, int, float, str or tuple (of str)
    rule: Rule
    default: object

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}"

    def expectation(self) -> str:
        """What this setting accepts, as the end of 'expected …'."""
        rule = self.rule
        if rule.expect:
            return rule.expect
        if self.kind is bool:
            return "true or false"
        if rule.choices:
            listed = ", ".join(f'"{c}"' for c in rule.choices)
            return f"one of {listed}"
        if self.kind is str:
            return "text" if rule.multiline else "a single line of text"
        noun = "an integer" if self.kind is int else "a number"
        if rule.low is not None and rule.high is not None:
            return f"{noun} from {_num(rule.low)} to {_num(rule.high)}"
        if rule.above is not None:
            return f"{noun} greater than {_num(rule.above)}"
        if rule.low is not None:
            return f"{noun} of at least {_num(rule.low)}"
        return noun


@functools.cache
def schema() -> dict[str, dict[str, Setting]]:
    """Every section and its settings, in declaration order: {"listen": {"port": Setting}}."""
    result: dict[str, dict[str, Setting]] = {}
    section_types = typing.get_type_hints(Config)
    for section_field in dataclasses.fields(Config):
        if section_field.metadata.get("table_array"):
            continue
        cls = section_types[section_field.name]
        hints = typing.get_type_hints(cls)
        settings: dict[str, Setting] = {}
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            kind = tuple if typing.get_origin(hint) is tuple else hint
            rule = rule_of(cls, f.name)
            settings[f.name] = Setting(section_field.name, f.name, kind, rule, f.default)
        result[section_field.name] = settings
    return result


def section_types() -> dict[str, type]:
    """{"server": ServerSection, …}, in declaration order."""
    hints = typing.get_type_hints(Config)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(Config)
        if not f.metadata.get("table_array")
    }


def load_config(
    path: Path | str | None = None, overrides: Mapping[str, object] | None = None
) -> Config:
    """Read a TOML config file (or none: all defaults), apply dotted `overrides`, validate.

    Unknown sections and keys, wrong types and out-of-range values raise `ConfigError` naming
    the key. Relative paths in the file (`server.motd_file`, `server.data_dir`, `history.path`)
    resolve against the file's directory, those in `overrides` against the working directory;
    all three are stored absolute. `server.motd_file`, when set, is read here and its text
    replaces `server.motd`.
    """
    file = Path(path) if path is not None else None
    values: dict[str, dict[str, object]] = {name: {} for name in schema()}
    from_override: set[str] = set()

    operators: tuple[Operator, ...] = ()
    if file is not None:
        base = file.parent.absolute()
        document = _read_toml(file)
        if "operators" in document:
            operators = _operators(document.pop("operators"), file)
        for section, table in document.items():
            _section(section, file=file)  # an unknown section fails here
            if not isinstance(table, dict):
                detail = f"expected a table of settings ([{section}]), got {_got(table, True)}"
                raise ConfigError.for_key(section, detail, file=file)
            for key, value in table.items():
                setting = _setting_for(f"{section}.{key}", file=file)
                values[section][key] = _validate(setting, value, base, override=False, file=file)

    for dotted, value in (overrides or {}).items():
        setting = _setting_for(dotted, override=True)
        values[setting.section][setting.key] = _validate(
            setting, value, Path.cwd(), override=True, file=None
        )
        from_override.add(dotted)

    motd_file = values["server"].get("motd_file")
    if motd_file:
        assert isinstance(motd_file, str)
        override = "server.motd_file" in from_override
        values["server"]["motd"] = _read_motd(Path(motd_file), override, None if override else file)

    types = section_types()
    sections: dict[str, Any] = {name: types[name](**vals) for name, vals in values.items()}
    return Config(**sections, operators=operators)


def _operators(value: object, file: Path) -> tuple[Operator, ...]:
    """The `[[operators]]` tables, checked. Error messages never show a password value."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        detail = "expected [[operators]] tables (name, password, host)"
        raise ConfigError.for_key("operators", detail, file=file)
    found: list[Operator] = []
    seen: set[str] = set()
    for index, table in enumerate(value):
        where = f"operators[{index}]"
        for key in table:
            if key not in OPERATOR_KEYS:
                detail = f'unknown key "{where}.{key}" (known keys: {", ".join(OPERATOR_KEYS)})'
                raise ConfigError(detail, key=f"{where}.{key}", detail=detail, file=file)
        name = table.get("name")
        if not isinstance(name, str) or not _is_token(name) or len(name) > 64:
            raise ConfigError.for_key(
                f"{where}.name", "expected a name without spaces (at most 64 characters)", file=file
            )
        if name.casefold() in seen:
            raise ConfigError.for_key(f"{where}.name", f'"{name}" is listed twice', file=file)
        seen.add(name.casefold())
        password = table.get("password")
        if not isinstance(password, str) or not password.startswith("$argon2id$"):
            raise ConfigError.for_key(
                f"{where}.password",
                "expected an argon2id hash made by `hubbub oper-hash` (never the password itself)",
                file=file,
            )
        host = table.get("host", "*@*")
        if not isinstance(host, str) or not _is_token(host):
            raise ConfigError.for_key(
                f"{where}.host", 'expected a user@host mask such as "*@192.0.2.*"', file=file
            )
        if "@" not in host:
            host = "*@" + host
        found.append(Operator(name, password, host))
    return tuple(found)


def _read_toml(file: Path) -> dict[str, Any]:
    where = f"config file {file}"
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it: {exc.strerror or exc}", file=file) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (bad byte at {exc.start})", file=file) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.DOTALL)
        if match:
            message = f"line {match[2]}, column {match[3]}: {match[1]}"
        else:
            message = message.replace(" (at end of document)", "")
            message = f"at the end of the file: {message}"
        raise ConfigError(f"{where}: {message}", file=file) from exc


def _section(name: str, *, override: bool = False, file: Path | None = None) -> dict[str, Setting]:
    sections = schema()
    if name in sections:
        return sections[name]
    hint = ""
    close = difflib.get_close_matches(name, list(sections), n=1)
    if close:
        hint = f'; did you mean "{close[0]}"?'
    else:  # a setting written outside its section, such as a top-level `port = 6667`
        owners = [s.dotted for ss in sections.values() for s in ss.values() if s.key == name]
        if owners:
            hint = f'; did you mean "{owners[0]}"?'
    detail = f'unknown key "{name}" (known sections: {", ".join(sections)}){hint}'
    raise ConfigError(detail, key=name, detail=detail, override=override, file=file)


def _setting_for(dotted: str, *, override: bool = False, file: Path | None = None) -> Setting:
    section, dot, key = dotted.partition(".")
    settings = _section(section, override=override, file=file)
    if not dot:
        detail = f'expected one setting, such as "{section}.{next(iter(settings))}"'
        raise ConfigError.for_key(dotted, detail, override=override, file=file)
    if key in settings:
        return settings[key]
    close = [f"{section}.{k}" for k in difflib.get_close_matches(key, list(settings), n=1)]
    if not close:  # in the wrong section, such as `password` under [listen]
        close = [s.dotted for ss in schema().values() for s in ss.values() if s.key == key]
    hint = f'; did you mean "{close[0]}"?' if close else ""
    detail = f'unknown key "{dotted}" (known keys in [{section}]: {", ".join(settings)}){hint}'
    raise ConfigError(detail, key=dotted, detail=detail, override=override, file=file)


def _validate(
    setting: Setting, value: object, base: Path, *, override: bool, file: Path | None
) -> object:
    """`value` checked and converted for `setting`, or a ConfigError naming its key."""
    rule = setting.rule

    def bad(wrong_type: bool) -> ConfigError:
        detail = f"expected {setting.expectation()}, got {_got(value, wrong_type)}"
        return ConfigError.for_key(setting.dotted, detail, override=override, file=file)

    kind = setting.kind
    if kind is bool:
        if not isinstance(value, bool):
            raise bad(True)
        return value
    if kind is int or kind is float:
        if isinstance(value, bool) or not isinstance(value, int if kind is int else (int, float)):
            raise bad(True)
        number = float(value) if kind is float else value
        if not math.isfinite(number) or not _in_range(number, rule):
            raise bad(False)
        return number
    if kind is tuple:
        if isinstance(value, str):
            items: tuple[str, ...] = (value,)
        elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            items = tuple(value)
        else:
            raise bad(True)
        if rule.check is not None and not rule.check(items):
            raise bad(False)
        return items
    # A string.
    if rule.path and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise bad(True)
    text = value.upper() if rule.upper else value
    if rule.multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\0" in text or (not rule.multiline and ("\r" in text or "\n" in text)):
        raise bad(False)
    if rule.choices and text not in rule.choices:
        raise bad(False)
    if rule.check is not None and not rule.check(text):
        raise bad(False)
    if rule.path and text:
        text = str(base / Path(text).expanduser())
    return text


def _read_motd(path: Path, override: bool, file: Path | None) -> str:
    key = "server.motd_file"
    try:
        with path.open("rb") as stream:
            raw = stream.read(MOTD_FILE_LIMIT + 1)
    except OSError as exc:
        detail = f"cannot read {path}: {exc.strerror or exc}"
        raise ConfigError.for_key(key, detail, override=override, file=file) from exc
    if len(raw) > MOTD_FILE_LIMIT:
        detail = f"{path} is larger than {MOTD_FILE_LIMIT // 1024} KiB; is it the right file?"
        raise ConfigError.for_key(key, detail, override=override, file=file)
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    if "\0" in text:
        detail = f"{path} holds NUL characters; expected a text file"
        raise ConfigError.for_key(key, detail, override=override, file=file)
    return text.rstrip("\n")


def _in_range(number: float, rule: Rule) -> bool:
    return (
        (rule.low is None or number >= rule.low)
        and (rule.high is None or number <= rule.high)
        and (rule.above is None or number > rule.above)
    )


def _num(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else repr(bound)


def _got(value: object, wrong_type: bool) -> str:
    """A value as an error message shows it, TOML-like; with its type when that is the fault."""
    if isinstance(value, dict):
        return "a table"
    shown = _show(value)
    if len(shown) > 60:
        shown = shown[:59] + "…"
    return f"{shown} ({_kind_name(value)})" if wrong_type else shown


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{…}"
    return str(value)


def _kind_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime.date | datetime.time):
        return "a date/time"
    return f"a {type(value).__name__}"


def toml_string(text: str) -> str:
    """`text` as a TOML basic string, with every character TOML forbids escaped."""
    out = ['"']
    for char in text:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
