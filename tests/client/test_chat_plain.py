"""`hubbub chat --plain` end to end (a child process with piped stdin), and the CLI wiring."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub import cli
from hubbub.client import options_from_args
from support.config import server_config
from support.irc_client import AsyncIrcClient
from support.servers import ThreadedServer, free_port

TIME = r"\[\d\d:\d\d\]"
REFUSED = "connection refused (is the server running?)"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    with ThreadedServer(server_config(tmp_path / "data", history={"backend": "memory"})) as running:
        yield running


async def chat(port: int, stdin: str, *args: str, timeout: float = 20) -> tuple[int, str, str]:
    """Run `hubbub chat --plain` with `stdin` piped in; (status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hubbub",
        "chat",
        "--plain",
        "--port",
        str(port),
        *args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_plain_once_sends_stdin_and_exits(server: ThreadedServer) -> None:
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await bob.register("bob")
        await bob.join("#lobby")
        await bob.say("#lobby", "earlier words")
        status, out, err = await chat(server.port, "hi\n/me waves\n", "--nick", "bot", "--once")
        assert (status, err) == (0, ""), err
        lines = out.splitlines()
        assert re.fullmatch(rf"{TIME} -- you joined #lobby", lines[0])
        assert "-- history: 1 message --" in lines
        assert any(re.fullmatch(rf"{TIME} <bob> earlier words", ln) for ln in lines)
        assert any(re.fullmatch(rf"{TIME} <bot> hi", ln) for ln in lines)  # the echo
        assert any(re.fullmatch(rf"{TIME} \* bot waves", ln) for ln in lines)
        got = [await bob.first(lambda x: x.command == "PRIVMSG") for _ in range(2)]
        assert [(x.nick, x.text) for x in got] == [("bot", "hi"), ("bot", "\x01ACTION waves\x01")]
        await bob.first(lambda x: x.command == "QUIT" and x.nick == "bot")
    finally:
        await bob.close()


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_plain_prints_what_others_say_and_the_room_of_other_windows(
    server: ThreadedServer,
) -> None:
    bob = await AsyncIrcClient.connect(server.address)
    try:
        await bob.register("bob")
        await bob.join("#lobby")
        await bob.join("#side")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hubbub", "chat", "--plain", "--port", str(server.port),
            "--nick", "watcher", "--room", "#lobby", "--room", "#side",
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdin is not None
        try:
            await bob.first(
                lambda x: x.command == "JOIN" and x.nick == "watcher" and x.params[0] == "#side"
            )
            await bob.say("#lobby", "in the lobby")
            await bob.say("#side", "on the side")
            await bob.send("PART #side :gone")
            seen: list[str] = []
            while not any("bob left #side" in ln for ln in seen):
                raw = await asyncio.wait_for(proc.stdout.readline(), 10)
                assert raw, "the client exited early"
                seen.append(raw.decode().rstrip("\n"))
            assert any(re.fullmatch(rf"{TIME} <bob> in the lobby", ln) for ln in seen)
            assert any(re.fullmatch(rf"{TIME} #side <bob> on the side", ln) for ln in seen)
            assert any(re.fullmatch(rf"{TIME} #side -- bob left #side \(gone\)", ln) for ln in seen)
            proc.stdin.write(b"/quit\n")
            await proc.stdin.drain()
            assert await asyncio.wait_for(proc.wait(), 10) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        await bob.close()


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_plain_nick_in_use_and_unknown_command_are_one_line_each(
    server: ThreadedServer,
) -> None:
    squatter = await AsyncIrcClient.connect(server.address)
    try:
        await squatter.register("bot")
        status, out, err = await chat(server.port, "/frob\nstill sent\n", "--nick", "bot", "--once")
        assert err.splitlines() == [
            "hubbub: the nick bot is in use; trying bot_",
            "hubbub: unknown command /frob (/help lists the commands)",
        ]
        assert status == 1  # a line was refused
        assert re.search(rf"{TIME} <bot_> still sent", out)
        assert "Traceback" not in err
    finally:
        await squatter.close()


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_plain_connection_refused_is_one_line_and_status_1() -> None:
    port = free_port()
    status, out, err = await chat(port, "hi\n", "--nick", "bot", "--once")
    assert (status, out) == (1, "")
    assert err == f"hubbub: cannot connect to 127.0.0.1:{port}: {REFUSED}\n"


def test_chat_subcommand_defaults() -> None:
    args = cli.build_parser().parse_args(["chat"])
    assert (args.host, args.port, args.room, args.plain, args.once, args.password) == (
        None,
        6667,
        None,
        False,
        False,
        False,
    )
    options = options_from_args(args)
    assert options.servers == (("127.0.0.1", 6667),)
    assert options.rooms == ("#lobby",)
    assert options.nick  # the login name, or "guest"
    assert args.handler is cli._chat


def test_chat_options_from_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBBUB_PASSWORD", "sesame")
    args = cli.build_parser().parse_args(
        ["chat", "--host", "::1", "--port", "7000", "--nick", "zed", "--room", "#a",
         "--room", "b", "--once", "--password"]
    )  # fmt: skip
    options = options_from_args(args)
    assert (options.host, options.port, options.nick, options.rooms) == (
        "::1",
        7000,
        "zed",
        ("#a", "b"),
    )
    assert options.plain and options.once  # --once implies --plain
    assert options.password == "sesame"


def test_bad_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["chat", "--port", "70000", "--plain"]) == 2
    assert capsys.readouterr().err == "hubbub: --port 70000 is not a TCP port (1-65535)\n"


def test_the_cli_loads_neither_client_nor_textual_until_chat_runs() -> None:
    code = (
        "import sys, hubbub.cli as c; c.build_parser().parse_args(['chat']); "
        "print('textual' in sys.modules, 'hubbub.client' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=True
    ).stdout
    assert out.split() == ["False", "False"]


def test_server_list_from_repeated_and_comma_separated_flags() -> None:
    parse = cli.build_parser().parse_args
    options = options_from_args(
        parse(["chat", "--port", "7002", "--server", "a:7000, b", "--server", "[::1]:7001"])
    )
    assert options.servers == (("a", 7000), ("b", 7002), ("::1", 7001))
    assert (options.host, options.port) == ("a", 7000)
    # --host comes first when given; a server named twice is tried once.
    options = options_from_args(parse(["chat", "--host", "h", "--server", "b,h:6667,::1"]))
    assert options.servers == (("h", 6667), ("b", 6667), ("::1", 6667))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("a,,b", "an empty server name in 'a,,b'"),
        ("a:99999", "'a:99999': the port is not a TCP port (1-65535)"),
        ("a:x", "'a:x': the port is not a TCP port (1-65535)"),
        ("[::1", "'[::1' is not HOST[:PORT] ([ADDRESS]:PORT for IPv6)"),
        (":7000", "':7000' names no host"),
    ],
)
def test_a_malformed_server_is_a_usage_error(
    value: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["chat", "--server", value, "--plain"]) == 2
    assert capsys.readouterr().err == f"hubbub: --server {why}\n"
