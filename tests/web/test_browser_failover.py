"""The web page with a list of servers (`[web] servers`), in Chromium: the server that served
the page dies, the page moves to the next server of the list, says so, and is back in its
room there, talking with the people on it.

Two independent servers on loopback (sharing nothing): the second lets the first's page in
(`allowed_origins`), as every node of a cluster would. Skipped like test_browser without
Chromium or Playwright.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_browser import heard, join_as, message_texts, open_page, talker, wait_text

from support.config import web_server_config
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.servers import ThreadedServer, free_port

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

pytestmark = pytest.mark.e2e


def test_a_lost_server_moves_the_page_to_the_next_one_in_the_list(
    browser: Any, tmp_path: Path
) -> None:
    first_web, second_web = free_port(), free_port()
    first_url = f"ws://127.0.0.1:{first_web}/irc"
    second_url = f"ws://127.0.0.1:{second_web}/irc"
    first = ThreadedServer(
        web_server_config(
            tmp_path / "a", web={"port": first_web, "servers": (first_url, second_url)}
        )
    ).start()
    second = ThreadedServer(
        web_server_config(
            tmp_path / "b",
            web={"port": second_web, "allowed_origins": (f"http://127.0.0.1:{first_web}",)},
        )
    ).start()
    alice = talker(first, "alice")
    bob = talker(second, "bob")
    context = None
    try:
        alice.join("#lobby")
        bob.join("#lobby")
        context, page, dialogs = open_page(browser, first)
        join_as(page, "mover")
        heard(alice, lambda cmd, params: cmd == "JOIN")
        alice.say("#lobby", "on the first server")
        wait_text(page, "on the first server")

        first.stop()
        heard(bob, lambda cmd, params: cmd == "JOIN" and params[0] == "#lobby", timeout=15)
        moved = f"Now on 127.0.0.1:{second_web} (moved from 127.0.0.1:{first_web})."
        wait_text(page, moved, selector="#message-list .text")
        bob.say("#lobby", "on the second server")
        wait_text(page, "on the second server")
        page.fill("#input", "hello from the page")
        page.press("#input", "Enter")
        _, params = heard(bob, lambda cmd, params: cmd == "PRIVMSG")
        assert params == ["#lobby", "hello from the page"]
        texts = message_texts(page)
        assert texts.count("on the first server") == 1, texts
        assert page.errors == [], page.errors
        assert dialogs == []
    finally:
        if context is not None:
            context.close()
        alice.close()
        bob.close()
        first.stop()
        second.stop()


def test_a_next_server_that_lacks_the_last_line_seen_still_gives_what_was_missed(
    browser: Any, tmp_path: Path
) -> None:
    """The page catches up with CHATHISTORY AFTER the msgid of the last line it saw; the next
    server may not have that line (a server killed with -9 loses the last commit window of
    its history, and here the two servers share nothing), and answers with an empty batch.
    The page then asks by time: the line said on the second server while it was kept away
    is shown, once."""
    first_web, second_web = free_port(), free_port()
    first_url = f"ws://127.0.0.1:{first_web}/irc"
    second_url = f"ws://127.0.0.1:{second_web}/irc"
    first = ThreadedServer(
        web_server_config(
            tmp_path / "a", web={"port": first_web, "servers": (first_url, second_url)}
        )
    ).start()
    second = ThreadedServer(
        web_server_config(
            tmp_path / "b",
            web={"port": second_web, "allowed_origins": (f"http://127.0.0.1:{first_web}",)},
        )
    ).start()
    alice = talker(first, "alice")
    bob = talker(second, "bob")
    context = None
    reach_second = threading.Event()

    def to_second(ws: Any) -> None:
        if reach_second.is_set():
            ws.connect_to_server()
        else:
            ws.close()

    try:
        alice.join("#lobby")
        bob.join("#lobby")
        context, page, dialogs = open_page(browser, first)
        page.route_web_socket(re.compile(rf":{second_web}/irc$"), to_second)
        join_as(page, "mover")
        heard(alice, lambda cmd, params: cmd == "JOIN")
        alice.say("#lobby", "on the first server only")
        wait_text(page, "on the first server only")

        first.stop()
        wait_text(page, "Reconnecting in", exact=False)  # kept from the second server
        bob.say("#lobby", "while you were away")
        bob.fence()
        reach_second.set()
        wait_text(page, "while you were away", timeout=30_000)
        heard(bob, lambda cmd, params: cmd == "JOIN" and params[0] == "#lobby")
        bob.say("#lobby", "the end")
        wait_text(page, "the end")
        wanted = ("on the first server only", "while you were away", "the end")
        texts = [t for t in message_texts(page) if t in wanted]
        assert texts == list(wanted), message_texts(page)
        # The page tried the dead first server again (the browser logs the refusal).
        assert [e for e in page.errors if f":{first_web}/irc" not in e] == [], page.errors
        assert dialogs == []
    finally:
        if context is not None:
            context.close()
        alice.close()
        bob.close()
        first.stop()
        second.stop()


def pump_until(page: Any, found: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for `found()` inside Playwright, so that the page's routed WebSockets are handled
    meanwhile (their handlers run only while the test is in a Playwright call)."""
    deadline = time.monotonic() + timeout
    while not found():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        page.wait_for_timeout(20)


def test_a_catch_up_of_several_pages_goes_on_from_the_page_not_from_a_live_line(
    browser: Any, tmp_path: Path
) -> None:
    """More was missed than one CHATHISTORY AFTER page: the next page starts after the last
    message of the one before. A live line can reach the page between its JOIN and the
    server's reading of its request (here made certain: the request is held back until the
    page shows the live line); going on after the newest message shown would go on after
    that live line, and skip what lies between."""
    server = ThreadedServer(web_server_config(tmp_path)).start()
    irc_url = re.compile(rf":{server.web_port}/irc$")
    alice = talker(server, "alice")
    context = None
    reachable = threading.Event()
    reachable.set()
    hold_catch_up = threading.Event()
    held: list[str] = []
    routes: list[Any] = []

    def route(ws: Any) -> None:
        if not reachable.is_set():
            ws.close()
            return
        upstream = ws.connect_to_server()
        routes.append((ws, upstream))

        def from_page(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if hold_catch_up.is_set() and "CHATHISTORY AFTER" in text and not held:
                held.append(text)  # sent on below, once the live line is shown
            else:
                upstream.send(message)

        ws.on_message(from_page)

    try:
        alice.join("#lobby")
        context, page, dialogs = open_page(browser, server)
        page.route_web_socket(irc_url, route)
        join_as(page, "mover")
        heard(alice, lambda cmd, params: cmd == "JOIN")
        assert routes, "the page's WebSocket did not go through the route"
        alice.say("#lobby", "seen")
        wait_text(page, "seen")

        reachable.clear()
        hold_catch_up.set()
        page_ws, _ = routes[-1]
        page_ws.close()  # the page has lost its server
        wait_text(page, "Reconnecting in", exact=False)
        missed = [f"missed {n:03}" for n in range(150)]  # CHATHISTORY=100: two pages
        alice.say("#lobby", *missed)
        alice.fence()
        reachable.set()
        pump_until(page, lambda: bool(held), "the page's catch-up request")
        alice.say("#lobby", "live")
        wait_text(page, "live")
        _, upstream = routes[-1]
        upstream.send(held[0])
        wait_text(page, missed[-1])
        texts = [t for t in message_texts(page) if t == "seen" or t.startswith("missed ")]
        texts += [t for t in message_texts(page) if t == "live"]
        assert texts == ["seen", *missed, "live"], message_texts(page)
        assert dialogs == []
    finally:
        if context is not None:
            context.close()
        alice.close()
        server.stop()


def test_on_a_cluster_the_page_moves_to_the_other_node_and_fetches_exactly_what_it_missed(
    browser: Any, tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Issue 14: a node goes away; its web users "reconnect (hubbub's terminal and web clients
    accept a list of servers) and fetch exactly what they missed with CHATHISTORY AFTER,
    without duplicates". Two nodes on a real Redis bus and PostgreSQL; the page is kept from
    reaching node B (its WebSocket routed through Playwright and closed) until a line has been
    said there that it can only get from history."""
    first_web, second_web = free_port(), free_port()
    first_url = f"ws://127.0.0.1:{first_web}/irc"
    second_url = f"ws://127.0.0.1:{second_web}/irc"
    history = {"backend": "postgres", "url": fresh_postgres_url}

    def cluster(node_id: str) -> dict[str, Any]:
        return {"url": redis_url, "node_id": node_id, "lease_ms": 1500, "heartbeat_ms": 150}

    first = ThreadedServer(
        web_server_config(
            tmp_path / "a",
            web={"port": first_web, "servers": (first_url, second_url)},
            history=history,
            cluster=cluster("node-a"),
        )
    ).start()
    second = ThreadedServer(
        web_server_config(
            tmp_path / "b",
            web={"port": second_web, "allowed_origins": (f"http://127.0.0.1:{first_web}",)},
            history=history,
            cluster=cluster("node-b"),
        )
    ).start()
    bob = talker(second, "bob")
    context = None
    reach_second = threading.Event()
    turned_away: list[str] = []

    def to_second(ws: Any) -> None:
        if reach_second.is_set():
            ws.connect_to_server()  # and the messages pass through unchanged
        else:
            turned_away.append(ws.url)
            ws.close()

    try:
        bob.join("#lobby")
        context, page, dialogs = open_page(browser, first)
        page.route_web_socket(re.compile(rf":{second_web}/irc$"), to_second)
        join_as(page, "mover")
        heard(bob, lambda cmd, params: cmd == "JOIN")  # across the nodes
        bob.say("#lobby", "before the move")
        wait_text(page, "before the move")

        first.stop()
        # The page tries node B at once and is turned away: the whole list failed, so it waits.
        wait_text(page, f"Trying 127.0.0.1:{second_web}…", exact=False)
        wait_text(page, "Reconnecting in", exact=False)
        heard(bob, lambda cmd, params: cmd == "QUIT", timeout=20)  # node A's users leave
        bob.say("#lobby", "while you were away")
        bob.fence()
        reach_second.set()
        # Waiting in Playwright (not on bob): the page's routed WebSocket is handled meanwhile.
        wait_text(page, "while you were away", timeout=30_000)
        heard(bob, lambda cmd, params: cmd == "JOIN" and params[0] == "#lobby")
        bob.say("#lobby", "the end")
        wait_text(page, "the end")
        texts = [
            t
            for t in message_texts(page)
            if t in ("before the move", "while you were away", "the end")
        ]
        assert texts == ["before the move", "while you were away", "the end"], message_texts(page)
        moved = f"Now on 127.0.0.1:{second_web} (moved from 127.0.0.1:{first_web})."
        wait_text(page, moved)
        assert turned_away, "the page never tried node B while it was kept away"
        assert dialogs == []
    finally:
        if context is not None:
            context.close()
        bob.close()
        first.stop()
        second.stop()
