"""`hubbub chat --plain` as a subprocess for the failover tests: `ChatProcess` reads its standard
output and error as they come (`line`, `until` wait with a deadline), `joined` matches a JOIN."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Callable

from support.irc_client import Line

__all__ = ["TIME", "WAIT", "ChatProcess", "joined"]

WAIT = 20.0
TIME = r"\[\d\d:\d\d\]"


class ChatProcess:
    """`hubbub chat --plain` as a subprocess, its standard output and error read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._pump(proc.stdout, self.out)),
            asyncio.create_task(self._pump(proc.stderr, self.err)),
        ]

    @classmethod
    async def start(cls, *args: str, stdin: bytes | None = None) -> ChatProcess:
        """Start it with `args`; `stdin`, when given, is written and standard input closed."""
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "hubbub", "chat", "--plain", *args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            await proc.stdin.drain()
            proc.stdin.close()
        return cls(proc)

    @staticmethod
    async def _pump(stream: asyncio.StreamReader, into: list[str]) -> None:
        while raw := await stream.readline():
            into.append(raw.decode().rstrip("\n"))

    async def until(self, found: Callable[[], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not found():
            if loop.time() > deadline or self.proc.returncode is not None:
                raise AssertionError(
                    f"waited for {what}; out: {self.out!r}; err: {self.err!r}; "
                    f"exit: {self.proc.returncode}"
                )
            # A quick poll: the failover test then kills a server within a few ms of a line
            # (inside the history's commit window), which a slow poll used to hide.
            await asyncio.sleep(0.005)

    async def line(self, pattern: str, what: str) -> None:
        """Wait for a line of standard output matching `pattern` (a full match)."""
        await self.until(lambda: any(re.fullmatch(pattern, ln) for ln in self.out), what)

    async def quit(self) -> int:
        assert self.proc.stdin is not None
        if self.proc.returncode is None:
            self.proc.stdin.write(b"/quit\n")
            await self.proc.stdin.drain()
        status = await asyncio.wait_for(self.proc.wait(), WAIT)
        await asyncio.gather(*self._readers)
        return status

    async def wait(self) -> int:
        """Its exit status, once it has exited by itself and its output is all read."""
        status = await asyncio.wait_for(self.proc.wait(), WAIT)
        await asyncio.gather(*self._readers)
        return status

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for reader in self._readers:
            reader.cancel()


def joined(nick: str, room: str) -> Callable[[Line], bool]:
    return lambda x: x.command == "JOIN" and x.nick == nick and x.params[0] == room
