"""irssi, the terminal IRC client, run inside a private tmux server and driven by keys: what
the end-to-end tests (tests/e2e, tests/cluster) type into it and read off its screen.

Every wait polls a condition with a deadline (`support.waiting`), and `stop` is safe to call
more than once, so a failing test never leaves processes behind.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from support.programs import WAIT, tail, tidy
from support.waiting import poll

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

    def diagnostics(self) -> str:
        """irssi's screen, for a failure message."""
        return f"--- irssi's screen:\n{tail(tidy(self.screen()))}"

    def wait_screen(self, pattern: str, timeout: float = WAIT) -> re.Match[str] | None:
        """Poll the screen until the regex `pattern` is found on it."""
        regex = re.compile(pattern)
        return poll(lambda: regex.search(self.screen()), timeout, interval=0.1)

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
        if poll(self.status_file.exists, timeout, interval=0.1):
            # The shell may not have finished writing: give it a moment to.
            poll(lambda: self.exit_status() is not None, 2.0)
            return self.exit_status()
        return None

    def stop(self) -> None:
        self.tmux.kill()
