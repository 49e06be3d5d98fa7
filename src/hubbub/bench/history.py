"""The `history` scenario: join latency with a long room history, and CHATHISTORY paging.

It runs in the coordinator process (it measures latency one request at a time, not load):

1. a filler client checks that the server advertises CHATHISTORY (ISUPPORT), joins a fresh room
   and stores N lines in it (in batches, each followed by a PING whose PONG says the server has
   processed the batch);
2. C newcomers, one after another, register and JOIN without any capability; each measures JOIN
   → end of NAMES (366) and JOIN → end of the automatic replay. The replay's end is the last
   replayed line's arrival: hubbub frames a plain replay with NOTICEs ending in "End of replay";
   a `chathistory` BATCH end counts too; with neither, the 366 is the end;
3. one client with `batch server-time message-tags draft/chathistory` pages the whole room
   backwards with CHATHISTORY BEFORE (msgid of the oldest line of each page) for at most D
   seconds: pages/s, lines/s and per-page latency.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from hubbub.bench.client import Client, ClientError, open_client
from hubbub.bench.options import Options
from hubbub.bench.procstat import own_cpu_seconds, process_cpu_seconds
from hubbub.bench.stats import percentile
from hubbub.bench.worker import run_loop

__all__ = ["run_history"]

FILL_BATCH = 200
MSGID = re.compile(rb"(?:^@|;)msgid=([^; ]+)")


def run_history(options: Options) -> dict[str, Any]:
    result = run_loop(_history(options))
    return {
        "scenario": "history",
        "server": options.label or f"{options.host}:{options.port}",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "params": options.as_params(),
        "results": result,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


async def _history(opt: Options) -> dict[str, Any]:
    timeout = opt.setup_timeout
    tag = secrets.token_hex(3)
    room = f"#h{tag}"
    cpu0 = own_cpu_seconds()
    server0 = process_cpu_seconds(opt.server_pid) if opt.server_pid else None
    filler = await open_client(
        opt.host, opt.port, f"hf{tag}", timeout=timeout, password=opt.password, wait_motd=True
    )
    try:
        if "CHATHISTORY" not in filler.isupport:
            return {"skipped": "the server does not advertise CHATHISTORY"}
        await filler.join(room, timeout)
        t_fill = time.monotonic()
        await _fill(filler, room, opt.lines, timeout)
        fill_s = time.monotonic() - t_fill

        joins: list[float] = []
        replays: list[float] = []
        replayed: list[int] = []
        for number in range(opt.clients):
            to_names, to_end, lines = await _newcomer(opt, room, f"hn{number}{tag}"[:9], timeout)
            joins.append(to_names)
            replays.append(to_end)
            replayed.append(lines)

        paging = await _page(opt, room, f"hp{tag}", timeout)
    finally:
        filler.abort()
    cpu1 = own_cpu_seconds()
    server1 = process_cpu_seconds(opt.server_pid) if opt.server_pid else None
    out: dict[str, Any] = {
        "stored_lines": opt.lines,
        "fill_s": round(fill_s, 3),
        "fill_lines_per_s": round(opt.lines / fill_s, 1) if fill_s > 0 else None,
        "newcomers": opt.clients,
        "replayed_lines": max(replayed) if replayed else 0,
        "join_to_names_ms": {
            "p50": _ms(percentile(joins, 50)),
            "p99": _ms(percentile(joins, 99)),
            "max": _ms(max(joins) if joins else None),
        },
        "join_to_replay_end_ms": {
            "p50": _ms(percentile(replays, 50)),
            "p99": _ms(percentile(replays, 99)),
            "max": _ms(max(replays) if replays else None),
        },
        **paging,
        "generator_cpu_s": round(cpu1 - cpu0, 3),
    }
    if server0 is not None and server1 is not None:
        out["server_cpu_s"] = round(server1 - server0, 3)
    return out


async def _fill(client: Client, room: str, lines: int, timeout: float) -> None:
    head = f"PRIVMSG {room} :history line ".encode()
    sent = 0
    while sent < lines:
        count = min(FILL_BATCH, lines - sent)
        batch = b"".join(head + b"%d\r\n" % n for n in range(sent, sent + count))
        token = f"fill{sent}".encode()
        pong = client.expect(_pong_test(token))
        client.write(batch + b"PING :" + token + b"\r\n")
        await asyncio.wait_for(pong, timeout)
        sent += count


def _pong_test(token: bytes) -> Callable[[bytes, list[bytes]], bool]:
    def test(command: bytes, params: list[bytes]) -> bool:
        return command == b"PONG" and params[-1:] == [token]

    return test


async def _newcomer(opt: Options, room: str, nick: str, timeout: float) -> tuple[float, float, int]:
    client = await open_client(
        opt.host, opt.port, nick, timeout=timeout, password=opt.password, wait_motd=True
    )
    try:
        folded = room.lower().encode()
        state = {"names": 0.0, "end": 0.0, "lines": 0, "in_batch": False}

        def seen(line: bytes, command: bytes, params: list[bytes]) -> None:
            now = time.monotonic()
            if command == b"PRIVMSG" and params and params[0].lower() == folded:
                state["lines"] = int(state["lines"]) + 1
                state["end"] = now
            elif command == b"366":
                state["names"] = now
                state["end"] = now
            elif command == b"BATCH" or (
                command == b"NOTICE" and params and params[0].lower() == folded
            ):
                state["end"] = now

        def replay_over(command: bytes, params: list[bytes]) -> bool:
            if command == b"NOTICE" and params[:1] and params[0].lower() == folded:
                return b"End of replay" in params[-1]
            return command == b"BATCH" and params[:1] != [] and params[0].startswith(b"-")

        client.on_line = seen
        start = time.monotonic()
        names = client.expect(lambda c, p: c == b"366" and p[1:2] == [folded])
        end = client.expect(replay_over)
        client.write(b"JOIN " + room.encode() + b"\r\n")
        await asyncio.wait_for(names, timeout)
        # No replay at all (replay off, or an empty room) shows as no end marker: give it a
        # moment, then take the 366 as the end.
        try:
            await asyncio.wait_for(asyncio.shield(end), 2.0 if opt.lines else 0.2)
        except TimeoutError:
            end.cancel()
        return state["names"] - start, state["end"] - start, int(state["lines"])
    finally:
        client.abort()


async def _page(opt: Options, room: str, nick: str, timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: Client(nick), opt.host, opt.port)
    caps = b"batch server-time message-tags draft/chathistory"
    client.write(b"CAP LS 302\r\nCAP REQ :" + caps + b"\r\nCAP END\r\n")
    try:
        if client.registered_at is None:
            await client.wait_for(lambda c, _: c == b"001", timeout)
        await client.join(room, timeout)
        page_lines: list[bytes] = []
        oldest: list[bytes | None] = [None]

        def seen(line: bytes, command: bytes, params: list[bytes]) -> None:
            if command == b"PRIVMSG":
                page_lines.append(line)

        client.on_line = seen
        latencies: list[float] = []
        total = 0
        ref = "timestamp=" + time.strftime("%Y-%m-%dT%H:%M:%S.999Z", time.gmtime(time.time() + 60))
        start = time.monotonic()
        deadline = start + opt.duration
        while time.monotonic() < deadline:
            page_lines.clear()
            done = client.expect(
                lambda c, p: (
                    (c == b"BATCH" and p[:1] != [] and p[0].startswith(b"-")) or c == b"FAIL"
                )
            )
            t = time.monotonic()
            client.write(f"CHATHISTORY BEFORE {room} {ref} {opt.page}\r\n".encode())
            await asyncio.wait_for(done, timeout)
            latencies.append(time.monotonic() - t)
            if not page_lines:
                break
            total += len(page_lines)
            match = MSGID.search(page_lines[0])
            oldest[0] = match.group(1) if match else None
            if oldest[0] is None:
                break
            ref = "msgid=" + oldest[0].decode()
        elapsed = time.monotonic() - start
    except ClientError as exc:
        return {"paging_error": str(exc)}
    finally:
        client.abort()
    return {
        "pages": len(latencies),
        "paged_lines": total,
        "pages_per_s": round(len(latencies) / elapsed, 1) if elapsed > 0 else None,
        "paged_lines_per_s": round(total / elapsed, 1) if elapsed > 0 else None,
        "page_ms": {
            "p50": _ms(percentile(latencies, 50)),
            "p99": _ms(percentile(latencies, 99)),
            "max": _ms(max(latencies) if latencies else None),
        },
    }
