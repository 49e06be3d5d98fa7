"""The configuration's schema: frozen dataclasses, one per section, every field with a default.

The sections and keys here are the reference; docs/configuration.md describes each of them. Each
field carries its own rule (the type comes from the annotation; range, choices and a one-line
explanation from `_setting`), so the loader (`hubbub.config.loader`) and the commented example
that `hubbub config defaults` prints (`hubbub.config.text`) cannot drift from this list.

Nothing here reads a file: the core imports this module, the loader does the reading.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import zoneinfo  # for _is_time_zone, which the loader runs (the core never does)
from collections.abc import Callable
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


def _is_time_zone(value: str) -> bool:
    # Checked when the config is read, so the core can rely on the name.
    if value == "UTC":
        return True
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


def _is_server_name(value: str) -> bool:
    # Servers need a "." in their name: clients tell a server source from a nick by it.
    return (
        0 < len(value) <= 63
        and "." in value
        and value[0].isascii()
        and value[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in ".-_") for c in value)
    )


def is_token(value: str) -> bool:
    return bool(value) and all(c.isprintable() and not c.isspace() for c in value)


def _are_hosts(value: tuple[str, ...]) -> bool:
    return bool(value) and len(set(value)) == len(value) and all(map(is_token, value))


@dataclass(frozen=True)
class ServerSection:
    """Who this server is and what it tells clients."""

    name: str = _setting(
        "hubbub.local",
        "The server's name, as clients see it in message sources. Must contain a dot. In a "
        "cluster, each machine's own (WHOIS, WHO and LINKS name a user's node by it).",
        check=_is_server_name,
        expect="a host-like name of at most 63 letters, digits, '.', '-' or '_' with a dot in it",
    )
    network: str = _setting(
        "hubbub",
        "The network name, advertised in ISUPPORT as NETWORK.",
        check=is_token,
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
    engine: str = _setting(
        "asyncio",
        "How the server runs its connections: asyncio (an event loop, uvloop when installed), "
        "threads (one thread per connection), select (one selectors loop on one thread) or "
        "hybrid (several selectors loops sharing the core under a lock); twisted (Twisted's "
        "reactor on the asyncio loop: the extra hubbub[twisted]). Only asyncio and twisted serve "
        "TLS, the web client and WebSocket, the PROXY protocol and metrics; the others refuse "
        "a configuration that asks for them.",
        choices=("asyncio", "threads", "select", "hybrid", "twisted"),
    )
    engine_loops: int = _setting(
        0,
        "The hybrid engine's event loops (threads). 0: one per CPU core, at most 8.",
        low=0,
        high=256,
    )
    thread_switch_interval: float = _setting(
        0.05,
        "The threads engine's GIL switch interval in seconds (sys.setswitchinterval). Every "
        "thread waiting for the GIL wakes once per interval: with thousands of connection "
        "threads woken at once (a mass disconnect), Python's 5 ms makes that herd take the "
        "machine. 0: keep Python's own.",
        low=0,
        high=1,
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
    proxy_protocol: bool = _setting(
        False,
        "Connections from [proxy] trusted addresses start with a PROXY protocol header (v1 or "
        "v2) naming the real client; others connect directly as usual.",
    )


def _is_origin(value: str) -> bool:
    # "*", or scheme://host[:port] as a browser sends it in the Origin header.
    if value == "*":
        return True
    match = re.fullmatch(r"(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?", value)
    return match is not None


def _are_origins(value: tuple[str, ...]) -> bool:
    return len(set(value)) == len(value) and all(map(_is_origin, value))


def _are_websocket_urls(value: tuple[str, ...]) -> bool:
    # ws(s)://host[:port][/path]: nothing a page's meta tag or a CSP source could misread.
    pattern = r"wss?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?"
    return len(set(value)) == len(value) and all(re.fullmatch(pattern, url) for url in value)


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
    public_origins: tuple[str, ...] = _setting(
        (),
        "The origins (scheme://host[:port]) the web page is served from, as browsers see it "
        "(behind a reverse proxy: its https:// address). Empty: http://<host>:<port> of each "
        "address the web listener is bound to (localhost for 0.0.0.0 and ::).",
        check=lambda value: _are_origins(value) and "*" not in value,
        expect='a list of distinct origins such as "https://chat.example.org"',
    )
    servers: tuple[str, ...] = _setting(
        (),
        "The WebSocket URLs (ws:// or wss://, path /irc) of the network's servers, in the order "
        "the web page tries them: when one is lost it moves to the next (hubbub nodes of one "
        "cluster). The page may connect to these besides its own origin; each of them must "
        "accept this page's origin (`allowed_origins`). Empty: only the server that served "
        "the page.",
        check=_are_websocket_urls,
        expect='a list of distinct URLs such as "wss://chat-b.example.org/irc"',
    )
    request_timeout: float = _setting(
        5.0,
        "Seconds a web client has to send its HTTP request and complete the WebSocket "
        "handshake; slower ones are dropped (they hold a socket, counted per address).",
        above=0,
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
    proxy_protocol: bool = _setting(
        False,
        "Connections from [proxy] trusted addresses send a PROXY protocol header (v1 or v2) "
        "before the TLS handshake (a TCP proxy passing TLS through); others connect directly.",
    )
    require_tls: bool = _setting(
        False,
        "Refuse registration over plain text (loopback connections are exempt).",
    )
    sts: bool = _setting(
        False,
        "Advertise Strict Transport Security (the IRCv3 sts capability) when a certificate is "
        "set: clients on plain text are told to reconnect to `port` with TLS. Only with a "
        "certificate clients can verify.",
    )
    sts_duration: int = _setting(
        0,
        "Seconds clients must keep using TLS after seeing the policy over TLS (sts "
        "duration); 0 asks them to forget it.",
        low=0,
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
    max_channels: int = _setting(
        10_000, "Most channels on the server; JOIN of a new one past it answers 405.", low=1
    )
    channels_per_address: int = _setting(
        200,
        "Most existing channels created from one address; JOIN of a new one past it answers "
        "405 (joining existing channels is limited only by channels_per_user).",
        low=1,
    )
    list_replies: int = _setting(
        1_000,
        "Most channels one LIST (or NAMES without arguments) answers; past it, 416 says the "
        "list was cut.",
        low=1,
    )
    who_replies: int = _setting(
        500,
        "Most users one WHO answers (a mask or a channel); past it, 416 says the list was cut.",
        low=1,
    )
    list_modes: int = _setting(
        100, "Most entries per channel list mode, such as bans (MAXLIST=b:n).", low=1
    )
    mask_length: int = _setting(
        256,
        "Longest mask (WHO pattern, ban mask, K-line) the server matches: longer ban masks and "
        "K-lines are refused, longer WHO patterns match nobody. Matching costs at most "
        "mask * name.",
        low=10,
        high=1024,
    )
    monitor_entries: int = _setting(
        100, "Most nicks on one client's MONITOR list (MONITOR=n).", low=1, high=10_000
    )
    clients_per_ip: int = _setting(16, "Most simultaneous connections from one address.", low=1)
    max_clients: int = _setting(10_000, "Most simultaneous connections in all.", low=1)
    sendq_bytes: int = _setting(
        1_048_576,
        "Bytes that may wait unsent to one client before it is dropped (SendQ exceeded).",
        low=512,
    )
    whowas_entries: int = _setting(
        1_000, "Nicks left (a QUIT or a new nick) WHOWAS remembers; 0: none.", low=0
    )
    pending_lines: int = _setting(
        256,
        "Lines one client may send while one of its commands waits on a worker; more: Excess "
        "Flood.",
        low=1,
    )
    invalid_utf8: str = _setting(
        "replace",
        "Lines that are not UTF-8: replace bad bytes, or reject the line with a FAIL.",
        choices=("replace", "reject"),
    )
    metadata_keys: tuple[str, ...] = _setting(
        ("avatar", "display-name", "pronouns", "homepage", "color", "status"),
        "Metadata keys users may set on themselves and channel operators on their channels.",
        check=lambda keys: all(
            key and all(c in "abcdefghijklmnopqrstuvwxyz0123456789_.-/" for c in key)
            for key in keys
        ),
        expect="lower-case keys of a-z 0-9 _ . - /",
    )
    metadata_max_keys: int = _setting(
        20, "Most metadata keys set on one user or channel (max-keys).", low=1, high=1000
    )
    metadata_max_subs: int = _setting(
        100, "Most metadata keys one connection may subscribe to (max-subs).", low=1, high=1000
    )
    metadata_max_value_bytes: int = _setting(
        300, "Longest metadata value, in bytes (max-value-bytes).", low=1, high=400
    )
    metadata_set_burst: int = _setting(
        10, "METADATA SET / CLEAR one connection may send at once.", low=1
    )
    metadata_set_seconds: float = _setting(
        2.0, "Seconds for one more METADATA SET after the burst.", above=0
    )
    multiline_max_bytes: int = _setting(
        4096,
        "Longest multiline message (draft/multiline max-bytes), line feeds included.",
        low=512,
        high=65536,
    )
    multiline_max_lines: int = _setting(
        32, "Most lines in one multiline message (draft/multiline max-lines).", low=2, high=1000
    )
    metadata_sync_members: int = _setting(
        200,
        "Members a channel may have for its metadata to come with a JOIN; above it the joiner "
        "is told to METADATA SYNC later.",
        low=0,
    )


@dataclass(frozen=True)
class FloodSection:
    """Per-client flood control: a token bucket over received lines."""

    enabled: bool = _setting(True, "Throttle clients that send too fast (off for benchmarks).")
    burst: int = _setting(20, "Lines a client may send at once.", low=1)
    lines_per_second: float = _setting(4.0, "Sustained rate after the burst.", above=0)
    free_reply_lines: int = _setting(
        20,
        "Lines a command may be answered with at no extra flood cost (the welcome, a WHOIS, "
        "a small NAMES).",
        low=1,
    )
    reply_lines_per_token: int = _setting(
        10,
        "Past free_reply_lines, every this many lines of answer (LIST, WHO, NAMES, WHOWAS, "
        "CHATHISTORY) cost the client one more flood token, so big answers are paced by size.",
        low=1,
    )


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


def _are_storable_tags(value: tuple[str, ...]) -> bool:
    # +typing only means something live; it would fill the store for nothing.
    return all(
        len(tag) > 1
        and tag[0] == "+"
        and " " not in tag
        and tag not in ("+typing", "+draft/typing")
        for tag in value
    )


@dataclass(frozen=True)
class HistorySection:
    """Durable room history: storage, replay on join and CHATHISTORY."""

    backend: str = _setting(
        "sqlite",
        "sqlite (durable, in the data directory), memory (nothing survives a restart) or "
        "postgres (the PostgreSQL database at history.url, which several nodes can share). "
        "Accounts and registered channels are kept in the same store.",
        choices=("sqlite", "memory", "postgres"),
    )
    path: str = _setting(
        "",
        "The SQLite file. Empty: <data_dir>/history.sqlite3. A relative path is taken from "
        "the config file's directory.",
        path=True,
        expect="a file path, or empty",
    )
    url: str = _setting(
        "",
        "For the postgres backend: the database, as postgresql://USER@HOST:PORT/DATABASE "
        "(hubbub serve --store URL sets both). Keep the password out of it: libpq reads "
        "PGPASSWORD or ~/.pgpass. Empty: libpq's defaults (PGHOST, PGUSER, PGDATABASE, ...).",
        check=lambda value: value == "" or value.startswith(("postgresql://", "postgres://")),
        expect="a postgresql:// URL, or empty",
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
    replay_time_zone: str = _setting(
        "UTC",
        "The time zone of the [HH:MM] prefix replayed lines carry for clients without "
        "server-time: UTC or an IANA name such as Europe/Paris.",
        check=_is_time_zone,
        expect="UTC or an IANA time zone name",
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
        100_000, "Messages kept per room, oldest pruned first; 0: no count limit.", low=0
    )
    max_age_days: float = _setting(90.0, "Days messages are kept; 0: no age limit.", low=0)
    prune_interval: float = _setting(3600.0, "Seconds between retention sweeps.", above=0)
    store_private: bool = _setting(True, "Keep private messages, for their two parties.")
    private_per_account: int = _setting(
        10_000,
        "Private messages kept per sending account, oldest pruned first at each retention "
        "sweep; 0: no limit.",
        low=0,
    )
    store_tagmsg: bool = _setting(
        False, "Store TAGMSGs that carry one of tagmsg_tags (reactions); never typing."
    )
    tagmsg_tags: tuple[str, ...] = _setting(
        ("+draft/react", "+draft/reply"),
        "The client tags that make a TAGMSG worth storing (with store_tagmsg), and the only "
        "ones kept with it.",
        check=_are_storable_tags,
        expect="a list of client-only tag names (starting with +), without +typing",
    )
    max_tag_bytes: int = _setting(
        1024,
        "Bytes of client tags stored with one message (name=value; each); tags beyond it are "
        "relayed but not stored.",
        low=0,
        high=8191,
    )
    max_pending: int = _setting(
        20_000,
        "Accepted messages waiting to be written, at most; beyond it (or while the store "
        "fails) new messages are refused with FAIL … TEMPORARILY_UNAVAILABLE. From half of it "
        "the server stops reading a client that sends messages to be stored until a quarter "
        "of it waits (back-pressure).",
        low=1,
        high=10_000_000,
    )
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
    register_attempts: int = _setting(
        3, "Accounts one address may register in a burst (REGISTER, NickServ REGISTER).", low=1
    )
    register_refill_seconds: float = _setting(
        600.0,
        "After the burst, one more registration per address is allowed every this many seconds.",
        above=0,
    )
    max_queued_calls: int = _setting(
        16,
        "Account calls (password hashes) waiting for the account worker at most; beyond it "
        "logins and registrations are answered 'temporarily unavailable' at once.",
        low=1,
        high=100_000,
    )
    register_before_connect: bool = _setting(
        True,
        "Whether REGISTER may be used before the connection is registered (the capability "
        "of account registration says so to clients).",
    )
    email_required: bool = _setting(
        False,
        "Whether REGISTER needs an email address (the capability says so to clients; hubbub "
        "sends no mail, it only keeps the address).",
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

    format: str = _setting(
        "text",
        "text (one readable line per record) or json (one JSON object per line, for log "
        "shippers: time, level, logger, message and, for errors, the traceback).",
        choices=("text", "json"),
    )
    level: str = _setting(
        "INFO",
        "DEBUG, INFO, WARNING or ERROR. INFO shows every room message with its text; DEBUG "
        "also every raw line in and out, private messages included.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        upper=True,
    )
    queue_length: int = _setting(
        10_000,
        "Log records waiting to be written at most; beyond it they are dropped (and counted) "
        "rather than the server slowed down.",
        low=1,
        high=1_000_000,
    )


def _are_networks(value: tuple[str, ...]) -> bool:
    try:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ProxySection:
    """Proxies in front of hubbub that may say who the client is."""

    trusted: tuple[str, ...] = _setting(
        (),
        "Addresses or CIDR networks of trusted proxies. Only connections from these may send "
        "a PROXY protocol header (listen.proxy_protocol) or Forwarded / X-Forwarded-For "
        "headers (WebSocket); everyone else's headers are ignored.",
        check=_are_networks,
        expect="IP addresses or networks such as 10.0.0.0/8",
    )


@dataclass(frozen=True)
class MetricsSection:
    """Prometheus metrics and health checks (/metrics, /healthz, /readyz) on their own port."""

    enabled: bool = _setting(
        False,
        "Serve /metrics, /healthz and /readyz. Off by default: the numbers describe the "
        "server's users and load, so an operator opens them deliberately.",
    )
    host: str = _setting(
        "127.0.0.1",
        "Address of the metrics listener (loopback by default: scrape it locally or through "
        "a proxy, never expose it to the public).",
        check=is_token,
        expect="an address",
    )
    port: int = _setting(
        9464, "Port of the metrics listener; 0 picks a free one.", low=0, high=65535
    )


def _is_cluster_url(value: str) -> bool:
    return value == "" or (value.startswith(("redis://", "rediss://")) and is_token(value))


def _is_node_id(value: str) -> bool:
    return value == "" or (
        len(value) <= 100 and all(c.isascii() and (c.isalnum() or c in "._:@-") for c in value)
    )


@dataclass(frozen=True)
class ClusterSection:
    """Several nodes forming one network through Redis (docs/cluster.md)."""

    url: str = _setting(
        "",
        "The Redis bus of the cluster (redis://HOST:PORT/DB); empty: a single node, no "
        "cluster. Every node of one network names the same Redis.",
        check=_is_cluster_url,
        expect="empty, or a redis:// URL",
    )
    node_id: str = _setting(
        "",
        "This node's name on the bus; empty: made up at start (host name, process id and a "
        "random suffix). Two live nodes never share one; a process started under the name of "
        "one killed a moment ago waits for its lease to lapse and buries it before it serves.",
        check=_is_node_id,
        expect="1 to 100 of A-Z a-z 0-9 . _ : @ -",
    )
    lease_ms: int = _setting(
        20_000,
        "How long (ms) a node that stopped answering keeps its users: after that one surviving "
        "node sends their QUITs and their nicks are free again.",
        low=100,
        high=600_000,
    )
    heartbeat_ms: int = _setting(
        2_000,
        "How often (ms) a node renews its lease; less than lease_ms.",
        low=20,
        high=60_000,
    )
    stream_length: int = _setting(
        10_000,
        "Events kept per room on the bus (Redis stream, capped) for nodes catching up.",
        low=100,
        high=10_000_000,
    )
    pending_events: int = _setting(
        8_192,
        "Room events this node may have waiting for the bus at once; beyond it new ones are "
        "refused (FAIL ... TEMPORARILY_UNAVAILABLE) until Redis catches up.",
        low=16,
        high=1_000_000,
    )
    early_events: int = _setting(
        1_024,
        "Events kept per room that arrived ahead of a gap being filled from the stream; "
        "beyond it the latest are read from the stream again.",
        low=16,
        high=1_000_000,
    )
    left_rooms: int = _setting(
        1_024,
        "Rooms this node left lately (or sent an event to without following them) that it "
        "checks, whenever Redis is back, for an end Redis lost (restarted from an append-only "
        "file missing its last writes); beyond it the oldest are forgotten.",
        low=0,
        high=1_000_000,
    )
    lost_ranges: int = _setting(
        32,
        "Ranges of seqs Redis lost (restarted from an append-only file missing its last "
        "writes) noted per room on the bus, so that a node back later that had read some of "
        "them is told; beyond it the oldest are forgotten. Every node should have the same.",
        low=1,
        high=10_000,
    )
    reused_scan: int = _setting(
        256,
        "Events a node back after Redis lost a room's end compares, going back from its last "
        "one, to find those sequenced since at seqs it had read (another node back first "
        "reused them); beyond it the earlier ones are not delivered to it.",
        low=1,
        high=100_000,
    )
    replay_window: int = _setting(
        500,
        "Latest events of a room read from the bus's stream for the join replay and "
        "CHATHISTORY LATEST of a room this node just opened (what the store may not have yet), "
        "and once when it opens the room (the earlier messages their senders have not "
        "committed yet, written before its own); also the newest records of a renamed room's "
        "old name checked for copies left there after the move.",
        low=0,
        high=100_000,
    )
    remembered_private_sides: int = _setting(
        1_000,
        "Nicks of other nodes' logged-in users this node's users wrote to privately whose "
        "account it remembers, to read those conversations back under the account.",
        low=0,
        high=1_000_000,
    )
    unsent_private_changes: int = _setting(
        4_096,
        "Private REDACTs and EDITs a node keeps for the other party's node while the bus is "
        "away, sent when it is back; beyond it the oldest are dropped (logged).",
        low=0,
        high=1_000_000,
    )
    departures_kept: int = _setting(
        1_024,
        "Nicks this node's users gave up lately (QUIT, NICK), one entry per nick and user that "
        "held it, that it announces offline again, and whose directory entries it drops again, "
        "when Redis lost data (nodes that had not read the first announcement, or an entry "
        "restored by an append-only file missing the drop); beyond it the oldest are forgotten.",
        low=0,
        high=1_000_000,
    )
    held_messages: int = _setting(
        1_000,
        "Messages of other nodes' users a node holds per room instead of writing them to the "
        "history (their own node writes them and says when they are committed); beyond it the "
        "node writes the oldest itself. Also how many events of a room just opened wait for "
        "its earlier messages to be read from the bus, and how many of each other node's "
        "messages refused in a room's sequence a node remembers, to void them in the history "
        "should that node die before it did.",
        low=1,
        high=1_000_000,
    )
    workers: int = _setting(
        1,
        "Processes sharing the listening ports (SO_REUSEPORT), each a node on the bus: the way "
        "to use every core of a machine. More than 1 needs a cluster url.",
        low=1,
        high=256,
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
    metrics: MetricsSection = field(default_factory=MetricsSection)
    proxy: ProxySection = field(default_factory=ProxySection)
    cluster: ClusterSection = field(default_factory=ClusterSection)
    # [[operators]]: an array of tables, not a section of settings (see _operators).
    operators: tuple[Operator, ...] = field(default=(), metadata={"table_array": True})

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir) if self.server.data_dir else default_data_dir()

    @property
    def history_path(self) -> Path:
        return Path(self.history.path) if self.history.path else self.data_path / "history.sqlite3"
