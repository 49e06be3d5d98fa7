"""The settings of one benchmark run, and the `hubbub bench …` command line that fills them.

This module imports nothing but the standard library's argparse and dataclasses, so that the
`hubbub` command can build its parser cheaply; the load generator itself is imported only when
a benchmark runs.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

__all__ = ["SCENARIOS", "Options", "add_scenarios", "options_from_args"]

SCENARIOS = ("fanout", "rooms", "connect", "history", "join")
PLACEMENTS = ("round-robin", "senders-apart")


@dataclass(frozen=True)
class Options:
    """One run. Meanings of `rate` and `window` depend on the scenario (see the --help texts)."""

    scenario: str
    host: str = "127.0.0.1"
    port: int = 6667
    clients: int = 200
    senders: int = 10
    rooms: int = 1
    rate: float = 0.0
    window: int = 8
    duration: float = 10.0
    workers: int = 0
    server_pid: int | None = None
    json: str | None = None
    label: str = ""
    size: int = 0
    check_every: int = 1
    drain: float = 5.0
    lines: int = 5000
    page: int = 100
    sender_cmds: tuple[str, ...] = field(default_factory=tuple)
    password: str = ""
    setup_timeout: float = 120.0
    setup_window: int = 8
    settle: float = 1.0
    websocket: bool = False
    joiners: int = 200
    no_implicit_names: bool = False
    stalled: int = 0
    # fanout / rooms against several servers (nodes of one cluster): (host, port) of each, and
    # how clients are spread over them (see `endpoints` and hubbub.bench.runner).
    servers: tuple[tuple[str, int], ...] = ()
    placement: str = "round-robin"

    def endpoints(self) -> tuple[tuple[str, int], ...]:
        """The servers clients connect to: --server's list, or the one --host/--port names."""
        return self.servers or ((self.host, self.port),)

    def as_params(self) -> dict[str, object]:
        """The parameters worth recording next to a result."""
        keys = ["clients", "duration", "workers"]
        if self.scenario in ("fanout", "rooms"):
            keys += ["senders", "rate", "window", "size", "check_every"]
            if self.scenario == "rooms":
                keys.append("rooms")
            if self.stalled:
                keys.append("stalled")
            if self.servers:
                keys += ["servers", "placement"]
        elif self.scenario == "connect":
            keys += ["rate", "window"]
        elif self.scenario == "join":
            keys = ["clients", "joiners", "window", "no_implicit_names", "check_every", "workers"]
        else:
            keys += ["lines", "page"]
        if self.websocket:
            keys.append("websocket")
        params = {key: getattr(self, key) for key in keys}
        if "servers" in params:
            params["servers"] = [f"{host}:{port}" for host, port in self.servers]
        return params


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {text}")
    return value


def _server(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


_EPILOG = (
    "Works against any IRC server on this machine (hubbub, ngIRCd, InspIRCd, ...): the server "
    "must not throttle the generator (turn flood control off, raise per-address connection "
    "limits). Prints a table and one JSON line (to stdout, or appended to --json FILE). With "
    "--server-pid the server's CPU use (and for connect, its memory per connection) is read "
    "from /proc."
)


def add_scenarios(bench: argparse.ArgumentParser) -> None:
    """Declare `fanout`, `rooms`, `connect`, `history` and `join` under the `bench` parser."""
    scenarios = bench.add_subparsers(title="scenarios", metavar="SCENARIO", dest="scenario")

    fanout = scenarios.add_parser(
        "fanout",
        help="C clients in one room, S of them sending: deliveries/s, latency, loss",
        description="C clients join one room; S of them send PRIVMSG to it for D seconds, "
        "either at a total rate R (msg/s) or as fast as possible with at most W unacknowledged "
        "messages per sender (a message is acknowledged when a designated receiver in the "
        "room gets it). Every message carries its sender, a sequence number and its send "
        "time; every receiver checks each sender's sequence (lost / duplicated / out of "
        "order) and measures latency.",
        epilog=_EPILOG,
    )
    _common(fanout, clients=200)
    _traffic(fanout)

    rooms = scenarios.add_parser(
        "rooms",
        help="C clients over K rooms, each room with its own traffic",
        description="C clients spread over K rooms (client i in room i mod K); senders are "
        "clients 0..S-1, so sender j talks in room j mod K. Otherwise as fanout.",
        epilog=_EPILOG,
    )
    _common(rooms, clients=1000)
    _traffic(rooms)
    rooms.add_argument(
        "--rooms", metavar="K", type=_positive_int, default=50, help="number of rooms (50)"
    )

    connect = scenarios.add_parser(
        "connect",
        help="register C connections: connections/s, registration latency, memory each",
        description="Open C connections and register each (NICK/USER, until 001) as fast as "
        "possible with at most W registrations in flight per worker, or at R connections/s. "
        "The connections then stay idle while the server's RSS is read (--server-pid): RSS "
        "per idle connection is (after - before) / C.",
        epilog=_EPILOG,
    )
    _common(connect, clients=1000)
    connect.add_argument(
        "--rate",
        "-R",
        metavar="R",
        type=_non_negative_float,
        default=0.0,
        help="connections per second over all workers; 0: as fast as possible (0)",
    )
    connect.add_argument(
        "--window",
        "-W",
        metavar="W",
        type=_positive_int,
        default=64,
        help="registrations in flight per worker when as fast as possible (64)",
    )
    connect.add_argument(
        "--settle",
        metavar="S",
        type=_non_negative_float,
        default=1.0,
        help="seconds to let the server settle before reading its RSS (1)",
    )

    history = scenarios.add_parser(
        "history",
        help="join latency with a long room history, and CHATHISTORY BEFORE paging",
        description="Fill a fresh room with N lines, then measure C newcomers' join latency "
        "(JOIN to end of names, and to the end of the automatic history replay), and page "
        "the whole history backwards with CHATHISTORY BEFORE (pages/s, lines/s). Needs a "
        "server that advertises CHATHISTORY (hubbub); skipped gracefully otherwise.",
        epilog=_EPILOG,
    )
    _common(history, clients=20, multi_worker=False)
    history.add_argument(
        "--lines",
        metavar="N",
        type=_non_negative_int,
        default=5000,
        help="lines stored in the room before newcomers join (5000)",
    )
    history.add_argument(
        "--page",
        metavar="P",
        type=_positive_int,
        default=100,
        help="lines asked per CHATHISTORY BEFORE request (100; the server may cap it)",
    )

    join = scenarios.add_parser(
        "join",
        help="J newcomers JOIN a room of C members: JOINs/s, JOIN latency, lines per JOIN",
        description="C members join one room (setup, not measured). Then J joiners connect and "
        "register (negotiating every capability the server offers except no-implicit-names, "
        "which only --no-implicit-names asks for) and JOIN the room one after another, or "
        "with at most W JOINs in flight. Measured: JOINs/s; JOIN → own JOIN echo, → end of "
        "NAMES (366) and → the answer's end (a PING fence), p50/p99; the lines and bytes each "
        "joiner received for its JOIN; the JOIN line's deliveries to the members (each "
        "must see every joiner once; checked in full, with latency, on every K-th member).",
        epilog=_EPILOG,
    )
    _common(join, clients=5000, duration=False)
    join.add_argument(
        "--joiners",
        "-J",
        metavar="J",
        type=_positive_int,
        default=200,
        help="clients that join the room once it has its C members (200)",
    )
    join.add_argument(
        "--window",
        "-W",
        metavar="W",
        type=_positive_int,
        default=1,
        help="JOINs in flight at once; 1: one after another (1)",
    )
    join.add_argument(
        "--no-implicit-names",
        action="store_true",
        help="joiners negotiate the no-implicit-names capability (the server must offer it): "
        "no NAMES after their JOIN",
    )
    join.add_argument(
        "--setup-window",
        metavar="N",
        type=_positive_int,
        default=8,
        help="members each worker connects and joins at once during setup (8)",
    )
    join.add_argument(
        "--check-every",
        metavar="K",
        type=_positive_int,
        default=1,
        help="check which joiners every K-th member saw, and when; the others only count "
        "JOIN lines. 1: all (1)",
    )
    join.add_argument(
        "--drain",
        metavar="S",
        type=_positive_float,
        default=5.0,
        help="seconds to wait after the last JOIN for deliveries still under way (5)",
    )
    join.add_argument(
        "--sender-cmd",
        metavar="LINE",
        action="append",
        default=[],
        help="a raw line each joiner sends after registering, before its JOIN ({nick} is "
        "replaced); repeat for several (e.g. ngIRCd's OPER and MODE {nick} +F)",
    )


def _common(
    parser: argparse.ArgumentParser,
    *,
    clients: int,
    multi_worker: bool = True,
    duration: bool = True,
) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="server address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=6667, help="server port (6667)")
    parser.add_argument(
        "--clients",
        "-C",
        metavar="C",
        type=_positive_int,
        default=clients,
        help=f"number of clients ({clients})",
    )
    if duration:
        parser.add_argument(
            "--duration",
            "-D",
            metavar="D",
            type=_positive_float,
            default=10.0,
            help="seconds of traffic, or the time limit of a phase (10)",
        )
    if multi_worker:
        parser.add_argument(
            "--workers",
            metavar="N",
            type=_non_negative_int,
            default=0,
            help="generator processes; 0: one per CPU this process may run on (0)",
        )
    parser.add_argument(
        "--server-pid",
        metavar="PID",
        type=int,
        help="the server's process id, to read its CPU time and memory from /proc",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="append the JSON line to FILE instead of printing it; '-' for stdout",
    )
    parser.add_argument("--label", default="", help="a name for the server in the output")
    parser.add_argument("--password", default="", help="send PASS with this before registering")
    parser.add_argument(
        "--setup-timeout",
        metavar="S",
        type=_positive_float,
        default=120.0,
        help="seconds allowed for connecting and joining everyone (120; join: also the "
        "limit of the measured JOINs)",
    )


def _traffic(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        metavar="HOST:PORT",
        type=_server,
        action="append",
        default=[],
        help="a server to connect clients to; repeat for several (the nodes of one cluster): "
        "clients are spread over them by --placement, and latencies of deliveries from a "
        "sender on another server are reported apart (cross-node). Replaces --host/--port",
    )
    parser.add_argument(
        "--placement",
        choices=PLACEMENTS,
        default="round-robin",
        help="with several --server: round-robin puts client i on server i mod N; "
        "senders-apart puts every sender on the first server and every other client on the "
        "others, round robin, so that every delivery to a non-sender crosses nodes "
        "(round-robin)",
    )
    parser.add_argument(
        "--websocket",
        action="store_true",
        help="connect the clients over IRC-over-WebSocket (text.ircv3.net) to a web "
        "listener: --port is then its port (hubbub's web.port, 8080)",
    )
    parser.add_argument(
        "--setup-window",
        metavar="N",
        type=_positive_int,
        default=8,
        help="clients each worker connects and joins at once during setup (8; servers with "
        "a short listen backlog, like ngIRCd's 10, drop connection attempts beyond it)",
    )
    parser.add_argument(
        "--senders",
        "-S",
        metavar="S",
        type=_positive_int,
        default=10,
        help="clients that send (10)",
    )
    parser.add_argument(
        "--rate",
        "-R",
        metavar="R",
        type=_non_negative_float,
        default=0.0,
        help="total messages per second over all senders; 0: as fast as the window allows (0)",
    )
    parser.add_argument(
        "--window",
        "-W",
        metavar="W",
        type=_non_negative_int,
        default=None,
        help="unacknowledged messages allowed per sender; 0: unbounded (8 without --rate, "
        "0 with it)",
    )
    parser.add_argument(
        "--size",
        metavar="B",
        type=_non_negative_int,
        default=0,
        help="extra payload bytes per message (0)",
    )
    parser.add_argument(
        "--check-every",
        metavar="K",
        type=_positive_int,
        default=1,
        help="check sequences and latency on every K-th receiver; the others only count "
        "their deliveries (loss and duplicates still show in the totals). 1: all (1)",
    )
    parser.add_argument(
        "--drain",
        metavar="S",
        type=_positive_float,
        default=5.0,
        help="seconds to wait after sending stops for deliveries still under way (5)",
    )
    parser.add_argument(
        "--stalled",
        metavar="N",
        type=_non_negative_int,
        default=0,
        help="N more clients join the (first) room and then never read again, with a small "
        "receive buffer: does a recipient that takes nothing slow the others down? The result "
        "says how many of them the server cut off (0)",
    )
    parser.add_argument(
        "--sender-cmd",
        metavar="LINE",
        action="append",
        default=[],
        help="a raw line each sender sends after registering, before JOIN ({nick} is "
        "replaced); repeat for several. E.g. for ngIRCd's flood exemption: "
        "--sender-cmd 'OPER bench bench' --sender-cmd 'MODE {nick} +F'",
    )


def options_from_args(args: argparse.Namespace) -> Options:
    """The Options an argparse namespace from `add_scenarios` describes."""
    scenario = str(args.scenario)
    values: dict[str, object] = {
        "scenario": scenario,
        "host": args.host,
        "port": args.port,
        "clients": args.clients,
        "duration": getattr(args, "duration", 10.0),
        "workers": getattr(args, "workers", 1),
        "server_pid": args.server_pid,
        "json": args.json,
        "label": args.label,
        "password": args.password,
        "setup_timeout": args.setup_timeout,
    }
    if scenario in ("fanout", "rooms"):
        window = args.window
        if window is None:
            window = 0 if args.rate else 8
        values.update(
            senders=args.senders,
            rate=args.rate,
            window=window,
            size=args.size,
            check_every=args.check_every,
            drain=args.drain,
            sender_cmds=tuple(args.sender_cmd),
            setup_window=args.setup_window,
            rooms=getattr(args, "rooms", 1),
            websocket=args.websocket,
            stalled=args.stalled,
            servers=tuple(args.server),
            placement=args.placement,
        )
    elif scenario == "connect":
        values.update(rate=args.rate, window=args.window, settle=args.settle)
    elif scenario == "history":
        values.update(lines=args.lines, page=args.page, workers=1)
    elif scenario == "join":
        values.update(
            joiners=args.joiners,
            window=args.window,
            no_implicit_names=args.no_implicit_names,
            setup_window=args.setup_window,
            check_every=args.check_every,
            drain=args.drain,
            sender_cmds=tuple(args.sender_cmd),
        )
    return Options(**values)  # type: ignore[arg-type]
