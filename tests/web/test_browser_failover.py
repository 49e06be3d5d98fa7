"""The web page with a list of servers (`[web] servers`), in Chromium: the server that served
the page dies, the page moves to the next server of the list, says so, and is back in its
room there, talking with the people on it.

Two independent servers on loopback (sharing nothing): the second lets the first's page in
(`allowed_origins`), as every node of a cluster would. Skipped like test_browser without
Chromium or Playwright.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_browser import heard, join_as, message_texts, open_page, talker, wait_text

from support.config import web_server_config
from support.servers import ThreadedServer, free_port

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
