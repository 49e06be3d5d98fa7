"""Helpers for the end-to-end tests: the server as a subprocess, a tiny raw-socket IRC client,
and a terminal IRC client (irssi) running inside a private tmux server.

Every wait here is a loop with a deadline and a short sleep, and every helper has a `close` or
`stop` that is safe to call more than once, so a failing test never leaves processes behind.
The raw client is deliberately written from scratch: it must not share code with hubbub.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# How long any single wait may take. Generous for a loaded 2-core CI machine; the test as a
# whole normally finishes in a few seconds.
WAIT = 20.0
POLL = 0.05


def wait_for(
    probe: Callable[[], T | None], timeout: float = WAIT, interval: float = POLL
) -> T | None:
    """Call `probe` until it returns something truthy (returned) or `timeout` passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(text: str, limit: int = 6000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


def tidy(screen: str) -> str:
    """A captured screen for a failure message: trailing blanks cut, blank runs squeezed."""
    out: list[str] = []
    for line in screen.splitlines():
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")


# ----------------------------------------------------------------------------- the server


def hubbub_command() -> list[str]:
    """How to start hubbub: the virtualenv's entry point, else `python -m hubbub`."""
    script = Path(sys.executable).with_name("hubbub")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "hubbub"]


class ServerProcess:
    """`hubbub serve` on 127.0.0.1 with a private data directory; output goes to files."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.stdout_path = workdir / "server.stdout"
        self.stderr_path = workdir / "server.stderr"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def start(self, attempts: int = 3) -> None:
        """Start the server and wait until its port accepts connections. The port is picked
        free beforehand; should the server exit at once (another process took the port in
        between), try again with a new one."""
        state = None
        for _ in range(attempts):
            self.port = free_port()
            self._spawn()
            state = self._wait_ready()
            if state == "ready":
                return
            if state != "exited":
                break
            self.stop()
        why = "exited at start" if state == "exited" else f"not listening after {WAIT:.0f} s"
        raise AssertionError(f"hubbub serve on 127.0.0.1:{self.port}: {why}\n{self.diagnostics()}")

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            *hubbub_command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--no-web",
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )

    def _wait_ready(self) -> str | None:
        """ "ready" once the port accepts a connection, "exited" if the server died first,
        None if neither happened in time."""

        def probe() -> str | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return "exited"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return "ready"
            except OSError:
                return None

        return wait_for(probe)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.returncode = proc.returncode

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def diagnostics(self) -> str:
        code = self.returncode if self.proc is None else self.proc.poll()
        if self.proc is not None and code is None:
            status = "running"
        else:
            status = "not started" if code is None else f"exited with status {code}"
        return f"--- hubbub serve ({status}) stderr:\n{tail(self.stderr())}"


# ----------------------------------------------------------------------------- raw IRC client


def split_prefix(line: str) -> tuple[str, str, list[str]]:
    """(source nick, COMMAND, params) of a raw IRC line; message tags are dropped."""
    if line.startswith("@"):
        line = line.partition(" ")[2]
    source = ""
    if line.startswith(":"):
        source, _, line = line[1:].partition(" ")
    head, sep, trailing = line.partition(" :")
    words = head.split()
    params = words[1:] + ([trailing] if sep else [])
    return source.split("!", 1)[0], (words[0].upper() if words else ""), params


class IrcClient:
    """A minimal line-based IRC client over a plain socket: enough to register, join, talk and
    watch. Every line received is kept in `seen` for failure messages; PINGs are answered."""

    def __init__(self, host: str, port: int, nick: str) -> None:
        self.nick = nick
        self.sock = socket.create_connection((host, port), timeout=WAIT)
        self.buffer = b""
        self.pending: list[str] = []
        self.seen: list[str] = []
        self.closed = False

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def _read_some(self, timeout: float) -> None:
        self.sock.settimeout(max(timeout, 0.01))
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            return
        if not data:
            self.closed = True
            return
        self.buffer += data
        while b"\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\n", 1)
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            self.seen.append(line)
            if split_prefix(line)[1] == "PING":
                self.send("PONG :" + split_prefix(line)[2][-1])
            self.pending.append(line)

    def expect(self, match: Callable[[str], bool], what: str, timeout: float = WAIT) -> str:
        """The next received line for which `match` is true (earlier lines are consumed)."""
        deadline = time.monotonic() + timeout
        while True:
            while self.pending:
                line = self.pending.pop(0)
                if match(line):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                state = "connection closed" if self.closed else f"nothing in {timeout:.0f} s"
                raise AssertionError(
                    f"{self.nick}: expected {what}, {state}. Received:\n"
                    + tail("\n".join(self.seen))
                )
            self._read_some(min(remaining, 0.5))

    def expect_command(
        self, command: str, *, source: str | None = None, timeout: float = WAIT
    ) -> list[str]:
        def match(line: str) -> bool:
            nick, cmd, _ = split_prefix(line)
            return cmd == command and (source is None or nick.lower() == source.lower())

        what = command + (f" from {source}" if source else "")
        return split_prefix(self.expect(match, what, timeout))[2]

    def register(self) -> None:
        self.send(f"NICK {self.nick}")
        self.send(f"USER {self.nick} 0 * :hubbub e2e raw client")
        self.expect_command("001")

    def join(self, channel: str) -> None:
        self.send(f"JOIN {channel}")
        self.expect_command("JOIN", source=self.nick)
        self.expect_command("366")  # end of NAMES: the join is complete

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(OSError):
                self.send("QUIT :done")
        self.closed = True
        self.sock.close()


# ----------------------------------------------------------------------------- irssi in tmux

TMUX_CONF = """\
set -g default-terminal "screen"
set -g remain-on-exit on
set -g history-limit 2000
set -g status off
"""


def irssi_config(nick: str) -> str:
    """A minimal irssi config: no networks, servers or channels to connect to or join by
    itself, no logging, nothing saved back, a fixed identity. An empty home has no scripts to
    autoload. Every key must be one irssi knows: an unknown one makes irssi ask on screen
    whether to remove it, and that question would swallow the keys the test types.

    cmd_queue_speed = 0 turns off irssi's own client-side flood queue (by default it sends 5
    commands at once, then one every 2.2 s), which otherwise delays the /join and the typed
    line by several seconds behind irssi's automatic MODE/WHO queries."""
    return f"""\
servers = ( );
chatnets = {{ }};
channels = ( );
settings = {{
  core = {{
    real_name = "hubbub e2e irssi";
    user_name = "{nick}";
    nick = "{nick}";
    settings_autosave = "no";
  }};
  "fe-common/core" = {{ autolog = "no"; beep_msg_level = "none"; }};
  "irc/core" = {{ lag_check_time = "0"; cmd_queue_speed = "0"; }};
}};
"""


def missing_programs(*names: str) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


class Tmux:
    """A private tmux server (own socket, own config) running one detached session."""

    def __init__(self, workdir: Path) -> None:
        # A short socket path: unix socket paths are limited to ~100 bytes.
        self.sockdir = Path(tempfile.mkdtemp(prefix="hubbub-tmux-"))
        self.socket = self.sockdir / "sock"
        self.conf = workdir / "tmux.conf"
        self.conf.write_text(TMUX_CONF)
        self.session = "e2e"
        self.started = False

    def run(self, *args: str, check: bool = True) -> str:
        """Run a tmux command against this server; its stdout. With check=False a failure
        gives its error message in angle brackets instead of raising."""
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", str(self.conf), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        if result.returncode != 0:
            error = f"tmux {args[0]} failed: {result.stderr.strip()}"
            if check:
                raise AssertionError(error)
            return f"<{error}>"
        return result.stdout

    def start(self, shell_command: str, env: dict[str, str], width: int, height: int) -> None:
        """Start the detached session running `shell_command` (run by /bin/sh)."""
        env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        self.run(
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            str(width),
            "-y",
            str(height),
            *env_args,
            shell_command,
        )
        self.started = True

    def capture(self) -> str:
        """The visible screen of the pane, wrapped lines joined."""
        if not self.started:
            return ""
        return self.run("capture-pane", "-p", "-J", "-t", self.session, check=False)

    def type_line(self, text: str) -> None:
        """Type `text` literally, then press Enter."""
        self.run("send-keys", "-t", self.session, "-l", text)
        self.run("send-keys", "-t", self.session, "Enter")

    def kill(self) -> None:
        if self.started:
            self.run("kill-server", check=False)
            self.started = False
        shutil.rmtree(self.sockdir, ignore_errors=True)


class Irssi:
    """irssi with an isolated home directory, connected to 127.0.0.1:port, inside tmux."""

    def __init__(self, workdir: Path, nick: str, port: int) -> None:
        self.nick = nick
        self.port = port
        self.home = workdir / "irssi-home"
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "config").write_text(irssi_config(nick))
        self.status_file = workdir / "irssi.status"
        self.tmux = Tmux(workdir)

    def start(self, width: int = 200, height: int = 50) -> None:
        env = {
            "TERM": "screen",
            "HOME": str(self.home),
            "LC_ALL": "C.UTF-8",
            "LANG": "C.UTF-8",
        }
        command = [
            "irssi",
            f"--home={self.home}",
            "-n",
            self.nick,
            "-c",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        # The shell records irssi's exit status: tmux's own #{pane_dead_status} is not always
        # filled in (tmux 3.3a), and the dead pane stays for capture-pane (remain-on-exit).
        status = shlex.quote(str(self.status_file))
        self.tmux.start(f"{shlex.join(command)}; echo $? > {status}", env, width, height)

    def screen(self) -> str:
        return self.tmux.capture()

    def wait_screen(self, pattern: str, timeout: float = WAIT) -> re.Match[str] | None:
        """Poll the screen until the regex `pattern` is found on it."""
        regex = re.compile(pattern)
        return wait_for(lambda: regex.search(self.screen()), timeout, interval=0.1)

    def type_line(self, text: str) -> None:
        self.tmux.type_line(text)

    def exit_status(self) -> int | None:
        """irssi's exit status once it has exited, else None."""
        try:
            text = self.status_file.read_text().strip()
        except OSError:
            return None
        return int(text) if text.lstrip("-").isdigit() else None

    def wait_exited(self, timeout: float = WAIT) -> int | None:
        """irssi's exit status, or None if it is still running after `timeout`."""
        if wait_for(self.status_file.exists, timeout, interval=0.1):
            # The shell may not have finished writing: give it a moment to.
            wait_for(lambda: self.exit_status() is not None, 2.0)
            return self.exit_status()
        return None

    def stop(self) -> None:
        self.tmux.kill()
