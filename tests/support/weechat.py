"""WeeChat, the terminal IRC client, in its headless build: what the end-to-end tests
(tests/e2e, tests/cluster) tell it through its FIFO pipe and read from its logs.

`weechat-headless` is the same program as the curses WeeChat without the screen: the IRC
plugin negotiates capabilities, parses and shows lines exactly as users see them. The tests
type commands into the FIFO plugin's pipe (one `buffer *text` line each, as a user would
type `text` into that buffer) and read what each buffer showed from the logger plugin's file
for it (flushed at once), one line per displayed line: date, prefix and message, separated by
tabs. The date is the line's own, the message's `time` tag for a line that has one.

Every wait polls a condition with a deadline (`support.waiting`), and `stop` is safe to call
more than once, so a failing test never leaves a process behind.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support.programs import WAIT, tail
from support.waiting import poll

#: The name WeeChat knows the hubbub server by: its buffers are `irc.server.hubbub` (the
#: server's messages, WHOIS and LIST replies) and `irc.hubbub.<channel>` (one per channel).
SERVER = "hubbub"


@dataclass(frozen=True)
class Shown:
    """One line a WeeChat buffer showed: when (`YYYY-MM-DD HH:MM:SS`), the prefix (a nick with
    its status sign, or `-->`, `<--`, `--` for joins, parts and notices) and the text."""

    date: str
    prefix: str
    text: str


class WeeChat:
    """weechat-headless with its own home directory, connected to 127.0.0.1:port as `nick`."""

    def __init__(self, workdir: Path, nick: str, port: int) -> None:
        self.nick = nick
        self.port = port
        self.home = workdir / "weechat-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.output = workdir / "weechat.out"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *channels: str) -> None:
        """Start WeeChat, connecting at once and joining `channels` once registered."""
        autojoin = f" -autojoin={','.join(channels)}" if channels else ""
        # Commands run in order once the plugins are loaded, before anything connects. The
        # logger writes each line at once (its default holds them for 2 minutes); reconnecting
        # is off, so a server that goes away is seen, not hidden. WeeChat's own client-side
        # flood queues are off (by default it sends one queued line every 2 s), as irssi's
        # are in support.irssi: otherwise a typed line waits behind WeeChat's automatic MODE
        # and WHO queries.
        server = f"irc.server.{SERVER}"
        commands = [
            "/set logger.file.flush_delay 0",
            f"/server add {SERVER} 127.0.0.1/{self.port} -notls -nicks={self.nick}{autojoin}",
            f"/set {server}.username {self.nick}",
            f"/set {server}.realname hubbub e2e weechat",
            f"/set {server}.autoreconnect off",
            f"/set {server}.anti_flood_prio_high 0",
            f"/set {server}.anti_flood_prio_low 0",
            f"/connect {SERVER}",
        ]
        with self.output.open("wb") as output:
            self.process = subprocess.Popen(
                [
                    "weechat-headless",
                    f"--dir={self.home}",
                    # Only what the tests use: the IRC protocol, the logs and the pipe.
                    "--plugins=irc,logger,fifo",
                    "--run-command",
                    ";".join(commands),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HOME": str(self.home), "LC_ALL": "C.UTF-8", "TZ": "UTC"},
            )

    # ------------------------------------------------------------------------- typing

    def type_into(self, buffer: str, text: str) -> None:
        """Type `text` into `buffer` (its full name) as a user would, then Enter."""
        if "\n" in text:
            raise ValueError("one line at a time")
        line = f"{buffer} *{text}\n".encode()
        descriptor = poll(self._open_pipe, WAIT, interval=0.05)
        if descriptor is None:
            raise AssertionError(f"WeeChat's pipe did not open within {WAIT:.0f} s")
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)

    def say(self, channel: str, text: str) -> None:
        self.type_into(channel_buffer(channel), text)

    def command(self, text: str) -> None:
        """Run a command (`/whois x`) in the server's buffer."""
        self.type_into(f"irc.server.{SERVER}", text)

    def _open_pipe(self) -> int | None:
        """The FIFO opened for writing, or None while WeeChat has not opened it for reading
        (it creates `weechat_fifo_<pid>` in its home once the plugin is loaded)."""
        if self.process is None:
            raise AssertionError("WeeChat was not started")
        if self.process.poll() is not None:
            raise AssertionError(f"WeeChat exited with status {self.process.returncode}")
        pipe = self.home / f"weechat_fifo_{self.process.pid}"
        try:
            # Non-blocking: opening a FIFO nobody reads fails (ENXIO) instead of waiting.
            return os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENXIO):
                return None
            raise

    # ------------------------------------------------------------------------- reading

    def shown(self, buffer: str) -> list[Shown]:
        """Every line `buffer` (its full name) has shown so far, oldest first."""
        path = self.home / "logs" / f"{buffer.lower()}.weechatlog"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        lines = []
        for row in text.splitlines():
            date, _, rest = row.partition("\t")
            prefix, _, message = rest.partition("\t")
            lines.append(Shown(date, prefix, message))
        return lines

    def shown_in(self, channel: str) -> list[Shown]:
        return self.shown(channel_buffer(channel))

    def server_lines(self) -> list[Shown]:
        return self.shown(f"irc.server.{SERVER}")

    def wait_shown(self, buffer: str, pattern: str, timeout: float = WAIT) -> Shown:
        """The first line of `buffer` whose `prefix<TAB>text` matches the regex `pattern`,
        once it has been shown."""
        regex = re.compile(pattern)

        def found() -> Shown | None:
            for line in self.shown(buffer):
                if regex.search(f"{line.prefix}\t{line.text}"):
                    return line
            return None

        line = poll(found, timeout, interval=0.05)
        if line is None:
            raise AssertionError(
                f"WeeChat's {buffer} did not show /{pattern}/ within {timeout:.0f} s"
            )
        return line

    def wait_in(self, channel: str, pattern: str, timeout: float = WAIT) -> Shown:
        return self.wait_shown(channel_buffer(channel), pattern, timeout)

    def wait_server(self, pattern: str, timeout: float = WAIT) -> Shown:
        return self.wait_shown(f"irc.server.{SERVER}", pattern, timeout)

    def diagnostics(self, *channels: str) -> str:
        """What WeeChat showed and printed, for a failure message."""
        parts = []
        for buffer in (f"irc.server.{SERVER}", *map(channel_buffer, channels)):
            shown = "\n".join(f"{x.date} {x.prefix} {x.text}" for x in self.shown(buffer))
            parts.append(f"--- WeeChat's {buffer}:\n{tail(shown)}")
        try:
            printed = self.output.read_text(errors="replace")
        except FileNotFoundError:
            printed = ""
        parts.append(f"--- WeeChat's output:\n{tail(printed)}")
        return "\n".join(parts)

    # ------------------------------------------------------------------------- stopping

    def wait_exited(self, timeout: float = WAIT) -> int | None:
        """WeeChat's exit status, or None if it is still running after `timeout`."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(WAIT)


def channel_buffer(channel: str) -> str:
    return f"irc.{SERVER}.{channel}"
