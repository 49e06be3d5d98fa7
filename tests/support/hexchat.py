"""HexChat, the GTK IRC client, in the tests: run on a virtual X display (Xvfb) and driven by a
plugin of ours (tests/e2e/hexchat/driver.py) that HexChat loads at start.

What HexChat shows its user comes back as its print events (a channel message with the time
HexChat dates it by, a join, a WHOIS line, ...), as JSON, one per line; the test's commands go
to the plugin the same way (support.hexchat.HexChat.send). The network, nick, autojoin and login
are HexChat's own configuration files (hexchat.conf, servlist.conf), as a user's would be.

HexChat stops on a modal dialog when run as root ("Running IRC as root is stupid!"), so as root
it runs as `nobody` from a directory of its own in /tmp (pytest's are the caller's alone). Xvfb
picks a free display itself (`-displayfd`). Every wait polls a condition with a deadline, and
`stop` is safe to call more than once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.programs import WAIT, not_installed, require_programs, tail
from support.waiting import poll

DRIVER = Path(__file__).resolve().parent.parent / "e2e" / "hexchat" / "driver.py"
# HexChat's name for the network of servlist.conf below: `/server`, `network` in get_info.
NETWORK = "hubbub"
# servlist.conf's login method for SASL PLAIN (HexChat's LOGIN_SASL) and the flag that
# connects a network at start (FLAG_AUTO_CONNECT).
LOGIN_SASL = 6
AUTO_CONNECT = 8

Event = dict[str, Any]


def require_hexchat() -> None:
    """Skip the test (fail it under HUBBUB_REQUIRE_E2E=1) unless HexChat, its Python plugin and
    Xvfb are installed."""
    require_programs("hexchat", "Xvfb")
    if not any(Path("/usr/lib").glob("*/hexchat/plugins/python.so")):
        not_installed("hexchat-python3")


class HexChat:
    """One HexChat connected to 127.0.0.1:port as `nick`, joining `channels`, logging in with
    SASL PLAIN when given a password (its account is its nick)."""

    def __init__(
        self, port: int, nick: str, channels: tuple[str, ...] = (), password: str = ""
    ) -> None:
        self.nick = nick
        self.as_root = os.getuid() == 0
        # As root, in /tmp itself: `nobody` must reach it (a TMPDIR may be the caller's alone).
        where = "/tmp" if self.as_root else None
        self.home = Path(tempfile.mkdtemp(prefix="hubbub-hexchat-", dir=where))
        self.config = self.home / "config"
        (self.config / "addons").mkdir(parents=True)
        shutil.copy(DRIVER, self.config / "addons" / DRIVER.name)
        self.events_path = self.home / "events.jsonl"
        self.commands_path = self.home / "commands.jsonl"
        self.events_path.touch()
        self.commands_path.touch()
        (self.config / "hexchat.conf").write_text(
            "\n".join(
                [
                    f"irc_nick1 = {nick}",
                    f"irc_nick2 = {nick}_",
                    f"irc_user_name = {nick}",
                    "irc_real_name = HexChat under test",
                    "gui_slist_skip = 1",  # no network list: connect the auto-connect network
                    "gui_join_dialog = 0",
                    "gui_quit_dialog = 0",
                    "gui_tray = 0",
                    "irc_logging = 0",
                    "text_replay = 0",  # show what the server sends, not HexChat's own logs
                    "net_throttle = 0",  # HexChat's own send queue would delay typed lines
                    "",
                ]
            )
        )
        network = [
            "v=2.16.1",
            "",
            f"N={NETWORK}",
            f"I={nick}",
            f"i={nick}_",
            f"U={nick}",
            "R=HexChat under test",
            f"F={AUTO_CONNECT}",
            "D=0",
            *(f"J={channel}" for channel in channels),
            f"S=127.0.0.1/{port}",
        ]
        if password:
            network[3:3] = [f"P={password}", f"L={LOGIN_SASL}"]
        (self.config / "servlist.conf").write_text("\n".join(network) + "\n")
        if self.as_root:
            for path in (self.home, *self.home.rglob("*")):
                shutil.chown(path, "nobody", "nogroup")
        self.events: list[Event] = []
        self._read_bytes = 0
        self._looked_at = 0  # events before this one were looked at by `first` already
        self.xvfb: subprocess.Popen[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        display = self._start_xvfb()
        environment = {
            **os.environ,
            "HOME": str(self.home),
            "HUBBUB_HEXCHAT_EVENTS": str(self.events_path),
            "HUBBUB_HEXCHAT_COMMANDS": str(self.commands_path),
        }
        user: dict[str, Any] = {}
        if self.as_root:
            user = {"user": "nobody", "group": "nogroup", "extra_groups": []}
        with (self.home / "hexchat.out").open("wb") as output:  # (the child keeps its own)
            self.process = subprocess.Popen(
                ["hexchat", f"--cfgdir={self.config}", f"--display=:{display}"],
                cwd=self.home,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                **user,
            )

    def _start_xvfb(self) -> str:
        """Start Xvfb on a display it finds free; its number."""
        reader, writer = os.pipe()
        errors = (self.home / "xvfb.out").open("wb")
        try:
            self.xvfb = subprocess.Popen(
                [
                    "Xvfb",
                    "-displayfd",
                    str(writer),
                    "-nolisten",
                    "tcp",
                    "-screen",
                    "0",
                    "1024x768x24",
                ],
                pass_fds=(writer,),
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
            os.close(writer)
            writer = -1
            with os.fdopen(reader, "rb") as answer:
                reader = -1
                display = answer.readline().decode().strip()  # written once it is ready
        finally:
            errors.close()
            for fd in (reader, writer):
                if fd >= 0:
                    os.close(fd)
        if not display:
            raise AssertionError(f"Xvfb did not start:\n{self._file('xvfb.out')}")
        return display

    def send(self, **command: str) -> None:
        """One command for the driver: `do="command", line=..., [channel=...]` types a line
        (`/` commands without the slash) into the channel's tab or the server's; `do="users",
        channel=...` reports the channel's user list ([nick, prefix, account], sorted) as an
        event of type `users`."""
        with self.commands_path.open("a", encoding="utf-8") as commands:
            commands.write(json.dumps(command) + "\n")

    def _take(self) -> bool:
        """Read the events written since last time; whether there were any."""
        with self.events_path.open("rb") as events:
            events.seek(self._read_bytes)
            data = events.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._read_bytes += len(complete)
        for line in complete.splitlines():
            self.events.append(json.loads(line))
        return bool(complete)

    def first(self, predicate: Callable[[Event], bool], what: str, timeout: float = WAIT) -> Event:
        """The first event not looked at yet that matches (those before it are passed over)."""

        def match() -> Event | None:
            while True:
                while self._looked_at < len(self.events):
                    event = self.events[self._looked_at]
                    self._looked_at += 1
                    if event["type"] == "driver error":
                        raise AssertionError(f"HexChat's driver failed: {event}")
                    if predicate(event):
                        return event
                # (Whether it had ended before this read: then nothing more is coming.)
                ended = self.process is not None and self.process.poll() is not None
                if not self._take():
                    if ended:
                        raise AssertionError(f"HexChat ended before {what}")
                    return None

        event = poll(match, timeout)
        if event is None:
            raise AssertionError(f"HexChat: {what} never came")
        return event

    def until(self, predicate: Callable[[Event], bool], what: str) -> list[Event]:
        """The events up to and including the first match (`first`)."""
        start = self._looked_at
        self.first(predicate, what)
        return self.events[start : self._looked_at]

    def stop(self) -> None:
        # SIGTERM first: Xvfb then removes its lock file and socket on its way out.
        for process in (self.process, self.xvfb):
            if process is None:
                continue
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=WAIT)

    def remove(self) -> None:
        """Delete HexChat's directory (after `stop`; `diagnostics` reads from it)."""
        shutil.rmtree(self.home, ignore_errors=True)

    def _file(self, name: str) -> str:
        path = self.home / name
        return path.read_text(errors="replace") if path.exists() else "(none)"

    def diagnostics(self) -> str:
        self._take()
        events = "\n".join(json.dumps(event) for event in self.events)
        return (
            f"HexChat events:\n{tail(events)}\n"
            f"its output:\n{tail(self._file('hexchat.out'))}\n"
            f"Xvfb's:\n{tail(self._file('xvfb.out'))}"
        )
