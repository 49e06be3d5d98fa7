"""The web client in a real browser: Debian's Chromium, headless, driven by Playwright.

A raw TCP client (alice) talks in #lobby first; the page then joins and must show that history
(the latest 50 through CHATHISTORY, older pages when scrolled up), send a message alice gets,
show one alice sends, render hostile text as text, and catch up after a dropped connection
without showing anything twice. Screenshots go to the test's tmp dir, and to docs/img/web.png
with HUBBUB_UPDATE_SCREENSHOTS=1.

Skipped when Chromium or Playwright is missing, unless HUBBUB_REQUIRE_E2E=1 (then it fails):
scripts/install-test-deps installs Debian's `chromium`. Playwright never downloads a browser.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.config import web_server_config
from support.irc_client import IrcClient
from support.servers import ThreadedServer

CHROMIUM_CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium-browser",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "img" / "web.png"
TIMEOUT_MS = 10_000
WAIT = 10.0  # seconds, for the raw client

pytestmark = pytest.mark.e2e


def _unavailable(reason: str) -> None:
    message = f"{reason}: run scripts/install-test-deps (Debian package chromium)"
    if os.environ.get("HUBBUB_REQUIRE_E2E") == "1":
        pytest.fail(f"HUBBUB_REQUIRE_E2E=1 but {message}", pytrace=False)
    pytest.skip(message)


def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if os.path.exists(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    path = chromium_path()
    if path is None:
        _unavailable("chromium is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def talker(server: ThreadedServer, nick: str) -> IrcClient:
    """A registered raw IRC client on the server's TCP listener: the "irssi user"."""
    client = IrcClient(server.address, timeout=WAIT)
    client.register(nick)
    return client


def heard(
    client: IrcClient, match: Callable[[str, list[str]], bool], timeout: float | None = None
) -> tuple[str, list[str]]:
    """(source nick, params) of the first line whose (command, params) match."""
    line = client.first(lambda x: match(x.command, x.params), timeout)
    return line.nick, line.params


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    thread = ThreadedServer(web_server_config(tmp_path)).start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def alice(server: ThreadedServer) -> Iterator[IrcClient]:
    client = talker(server, "alice")
    client.join("#lobby")
    try:
        yield client
    finally:
        client.close()


def open_page(
    browser: Any, server: ThreadedServer, *, phone: bool = False
) -> tuple[Any, Any, list[str]]:
    if phone:
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            reduced_motion="reduce",
        )
    else:
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, reduced_motion="reduce"
        )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" else None,
    )
    page.goto(server.url)
    page.errors = errors  # type: ignore[attr-defined]
    return context, page, dialogs


def join_as(page: Any, nick: str) -> None:
    page.fill("#nick", nick)
    page.click("button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    wait_room(page, "#lobby")


def wait_text(
    page: Any,
    text: str,
    selector: str = "#message-list .text",
    exact: bool = True,
    timeout: int = TIMEOUT_MS,
) -> None:
    """Wait until an element matching `selector` shows `text` (or contains it)."""
    page.wait_for_function(
        """([selector, text, exact]) => [...document.querySelectorAll(selector)].some(
            e => exact ? e.textContent === text : e.textContent.includes(text))""",
        arg=[selector, text, exact],
        timeout=timeout,
    )


def wait_room(page: Any, name: str, shown: bool = True) -> None:
    """Wait until the room shown is `name` (or, with shown=False, is not)."""
    page.wait_for_function(
        "([name, shown]) => (document.querySelector('#room-name').textContent === name) === shown",
        arg=[name, shown],
    )


def wait_members(page: Any, listed: str) -> None:
    """Wait until the member list reads `listed` ("@op,+voice,plain")."""
    page.wait_for_function(
        """listed => [...document.querySelectorAll('#member-list .member')]
            .map(e => e.textContent).join(',') === listed""",
        arg=listed,
    )


def wait_marked(page: Any, room: str, unread: bool = False) -> None:
    """Wait until `room` in the room list has a mention marker (and an unread count)."""
    page.wait_for_function(
        """([room, unread]) => [...document.querySelectorAll('#room-list .room')].some(
            r => r.querySelector('.room-name').textContent === room
                && r.querySelector('.mention') && (!unread || r.querySelector('.unread')))""",
        arg=[room, unread],
    )


def message_texts(page: Any) -> list[str]:
    return list(
        page.eval_on_selector_all("#message-list .msg .text", "els => els.map(e => e.textContent)")
    )


def save_screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    page.screenshot(path=str(target))
    print(f"screenshot: {target}")
    return target


def test_the_page_joins_shows_history_talks_with_tcp_and_renders_text_as_text(
    browser: Any, server: ThreadedServer, alice: IrcClient, tmp_path: Path
) -> None:
    for n in range(1, 61):
        alice.say("#lobby", f"seed message {n:03d}")
    alice.say("#lobby", "<script>alert(1)</script>")
    alice.say("#lobby", "<img src=x onerror=alert(2)> and <b>bold</b>")
    alice.say(
        "#lobby", "the docs are at https://example.org/docs, and javascript:alert(3) is not a link"
    )
    alice.send("TOPIC #lobby :Welcome! <i>not italic</i> https://example.org/topic")
    heard(alice, lambda cmd, params: cmd == "TOPIC")

    context, page, dialogs = open_page(browser, server)
    try:
        join_as(page, "webuser")
        # The latest 50 messages of the room, fetched with CHATHISTORY LATEST.
        wait_text(page, "is not a link", exact=False)
        texts = message_texts(page)
        assert "seed message 060" in texts
        assert "seed message 001" not in texts  # older than the first page
        assert texts.count("seed message 060") == 1

        # Hostile text is shown literally; nothing ran, no element was made from it.
        assert "<script>alert(1)</script>" in texts
        assert "<img src=x onerror=alert(2)> and <b>bold</b>" in texts
        assert page.locator("#message-list img, #message-list script, #message-list b").count() == 0
        assert page.locator("#topic i").count() == 0
        assert "<i>not italic</i>" in page.text_content("#topic")
        # Links: http(s) only, opened safely.
        link = page.locator("#message-list a.link")
        assert link.count() == 1
        assert link.get_attribute("href") == "https://example.org/docs"
        assert link.get_attribute("rel") == "noopener noreferrer"
        assert link.get_attribute("target") == "_blank"
        assert page.locator("#topic a.link").get_attribute("href") == "https://example.org/topic"

        # Members with their prefixes: alice created the room, so she is an operator.
        wait_members(page, "@alice,webuser")

        # The page's message reaches the TCP client.
        page.fill("#input", "hello from the browser")
        page.press("#input", "Enter")
        nick, params = heard(
            alice, lambda cmd, params: cmd == "PRIVMSG" and params[-1] == "hello from the browser"
        )
        assert nick == "webuser" and params[0] == "#lobby"
        # It shows on the page once (the server's echo).
        wait_text(page, "hello from the browser", selector="#message-list .msg.self .text")

        # The TCP client's message shows up live, while something is being typed.
        page.fill("#input", "half-typed")
        alice.say("#lobby", "hello webuser, from TCP")
        wait_text(page, "hello webuser, from TCP", selector="#message-list .msg.highlight .text")
        assert page.input_value("#input") == "half-typed"
        page.fill("#input", "")

        # Scrolling to the top loads older history (CHATHISTORY BEFORE) without a jump.
        anchor_text = "seed message 020"
        page.eval_on_selector("#messages", "el => { el.scrollTop = 0; }")
        wait_text(page, "seed message 001")
        page.wait_for_selector("#history-state:has-text('Beginning of the history')")
        texts = message_texts(page)
        seeds = [t for t in texts if t.startswith("seed message")]
        assert seeds == [f"seed message {n:03d}" for n in range(1, 61)], (
            "history out of order or doubled"
        )
        # The message that was at the top before the load is still in view, not pushed away.
        position = page.evaluate(
            """text => {
                const el = [...document.querySelectorAll('#message-list .text')]
                    .find(e => e.textContent === text);
                const box = document.querySelector('#messages').getBoundingClientRect();
                return el.getBoundingClientRect().top - box.top;
            }""",
            anchor_text,
        )
        assert position > 0, "older history was added above without keeping the view in place"

        page.eval_on_selector("#messages", "el => { el.scrollTop = el.scrollHeight; }")
        assert dialogs == []
        assert not [e for e in page.errors if "favicon" not in e], page.errors  # type: ignore[attr-defined]
        save_screenshot(page, tmp_path, "web-desktop-test.png")
    finally:
        context.close()


def test_the_page_on_a_phone_and_the_commands(
    browser: Any, server: ThreadedServer, alice: IrcClient, tmp_path: Path
) -> None:
    alice.say("#lobby", "good morning, phone")
    context, page, dialogs = open_page(browser, server, phone=True)
    try:
        join_as(page, "phoneuser")
        wait_text(page, "good morning, phone")
        # Side panels are drawers: closed, they are off screen.
        assert not page.locator("#rooms-pane").is_visible() or page.evaluate(
            "document.querySelector('#rooms-pane').getBoundingClientRect().right <= 0"
        )
        assert page.locator("#rooms-toggle").is_visible()
        save_screenshot(page, tmp_path, "web-phone.png")
        page.click("#rooms-toggle")
        page.wait_for_function(
            "() => document.querySelector('#rooms-pane').getBoundingClientRect().left >= 0"
        )
        save_screenshot(page, tmp_path, "web-phone-rooms.png")
        page.keyboard.press("Escape")

        # /me, /topic, /query and /msg; /nick; /join of a second room and room switching.
        page.fill("#input", "/me waves")
        page.press("#input", "Enter")
        nick, _ = heard(
            alice, lambda cmd, params: cmd == "PRIVMSG" and params[-1] == "\x01ACTION waves\x01"
        )
        assert nick == "phoneuser"
        # Without op, /topic is refused (+t) and the page says so; alice then gives op.
        page.fill("#input", "/topic phones welcome")
        page.press("#input", "Enter")
        page.wait_for_selector("#message-list .msg.error")
        alice.send("MODE #lobby +o phoneuser")
        page.click("#members-toggle")
        wait_members(page, "@alice,@phoneuser")
        page.keyboard.press("Escape")
        page.fill("#input", "/topic phones welcome")
        page.press("#input", "Enter")
        heard(alice, lambda cmd, params: cmd == "TOPIC" and params[-1] == "phones welcome")
        page.fill("#input", "/msg alice psst")
        page.press("#input", "Enter")
        heard(alice, lambda cmd, params: cmd == "PRIVMSG" and params == ["alice", "psst"])
        alice.send("PRIVMSG phoneuser :psst back")
        wait_text(page, "alice", selector="#room-list .room-name")
        page.fill("#input", "/join #second")
        page.press("#input", "Enter")
        wait_room(page, "#second")
        alice.say("#lobby", "phoneuser: are you there?")
        # Unread count and mention marker on #lobby, seen from #second.
        wait_marked(page, "#lobby", unread=True)
        page.keyboard.press("Control+k")
        wait_room(page, "#second", shown=False)
        page.fill("#input", "/nick phone2")
        page.press("#input", "Enter")
        heard(alice, lambda cmd, params: cmd == "NICK" and params == ["phone2"])
        assert dialogs == []
    finally:
        context.close()


def test_a_dropped_connection_reconnects_and_catches_up_without_duplicates(
    browser: Any, server: ThreadedServer, alice: IrcClient
) -> None:
    for n in range(1, 6):
        alice.say("#lobby", f"before {n}")
    context, page, _ = open_page(browser, server)
    try:
        join_as(page, "flaky")
        wait_text(page, "before 5")
        # Drop every WebSocket connection from the server side, abruptly.
        assert server.loop is not None and server.app is not None and server.app.web is not None
        web = server.app.web
        server.loop.call_soon_threadsafe(lambda: [conn._abort() for conn in list(web.connections)])
        heard(alice, lambda cmd, params: cmd == "QUIT")
        page.wait_for_selector("#status[data-state='disconnected']")
        for n in range(1, 4):
            alice.say("#lobby", f"missed {n}")
        # Backoff starts at about a second; then CHATHISTORY AFTER fills the gap.
        heard(alice, lambda cmd, params: cmd == "JOIN", timeout=15)
        wait_text(page, "missed 3", timeout=15_000)
        texts = message_texts(page)
        for text in [f"before {n}" for n in range(1, 6)] + [f"missed {n}" for n in range(1, 4)]:
            assert texts.count(text) == 1, (text, texts)
        order = [t for t in texts if re.fullmatch(r"(before|missed) \d", t)]
        assert order == [f"before {n}" for n in range(1, 6)] + [f"missed {n}" for n in range(1, 4)]
    finally:
        context.close()


def test_screenshots_of_a_conversation(
    browser: Any, server: ThreadedServer, tmp_path: Path
) -> None:
    """Desktop and phone pictures of a plausible conversation (docs/img/web.png is the first)."""
    alice = talker(server, "alice")
    bob = talker(server, "bob")
    carol = talker(server, "carol")
    try:
        for client in (alice, bob, carol):
            client.join("#lobby")
        bob.join("#dev")
        alice.send(
            "TOPIC #lobby :hubbub: rooms that remember. Be kind. Docs: https://example.org/hubbub"
        )
        alice.send("MODE #lobby +v carol")
        script = [
            (carol, "anyone around? the build on main is green again"),
            (bob, "thanks carol! was it the flaky timeout test?"),
            (carol, "yes, it waited on a clock that never ticked in CI"),
            (alice, "morning all! release notes are up: https://example.org/hubbub/0.1"),
            (bob, "nice. does the web client keep history when I reload?"),
            (alice, "yes, it asks the server (CHATHISTORY), so you see what you missed"),
            (bob, "\x01ACTION tries it on his phone\x01"),
            (carol, "works here, scrollback too"),
        ]
        for speaker, text in script:
            speaker.say("#lobby", text)
            # One at a time, so that the room's order is the script's order.
            listener = alice if speaker is not alice else bob
            heard(listener, lambda cmd, params, text=text: cmd == "PRIVMSG" and params[-1] == text)

        context, page, dialogs = open_page(browser, server)
        try:
            join_as(page, "dana")
            wait_text(page, "scrollback too", exact=False)
            page.fill("#input", "/join #dev")
            page.press("#input", "Enter")
            wait_room(page, "#dev")
            page.keyboard.press("Alt+ArrowDown")  # rooms in order: hubbub, #dev, #lobby
            wait_room(page, "#lobby")
            page.fill("#input", "hi all, joining from the browser")
            page.press("#input", "Enter")
            heard(alice, lambda cmd, params: cmd == "PRIVMSG" and params[-1].startswith("hi all"))
            alice.say("#lobby", "welcome dana!")
            bob.say("#dev", "the websocket transport is merged")
            bob.say("#dev", "dana: can you try it on your phone?")
            wait_marked(page, "#dev")
            wait_text(page, "welcome dana!")
            page.mouse.move(640, 20)
            page.evaluate("() => document.activeElement.blur()")
            # Nothing sticks out sideways.
            assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
            shot = save_screenshot(page, tmp_path, "web-desktop.png")
            if os.environ.get("HUBBUB_UPDATE_SCREENSHOTS") == "1":
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, SCREENSHOT)
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_function("() => document.querySelector('#rooms-toggle').offsetWidth > 0")
            page.eval_on_selector("#messages", "m => { m.scrollTop = m.scrollHeight; }")
            assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
            save_screenshot(page, tmp_path, "web-phone-conversation.png")
            assert dialogs == []
        finally:
            context.close()
    finally:
        for client in (alice, bob, carol):
            client.close()


def test_after_a_reconnect_no_stale_topic_and_no_stale_reason(
    browser: Any, server: ThreadedServer, alice: IrcClient
) -> None:
    """The room can come back without its topic (a server restart forgets an unregistered
    room's topic): a JOIN answered without RPL_TOPIC means no topic, so the page must not keep
    the old one. And the reason a connection closed (the server's ERROR) belongs to that
    connection: later failed attempts must not repeat it."""
    alice.send("TOPIC #lobby :the old topic")
    context, page, _ = open_page(browser, server)
    try:
        join_as(page, "restarter")
        wait_text(page, "the old topic", selector="#topic")
        assert server.loop is not None and server.app is not None and server.app.web is not None
        web = server.app.web
        server.loop.call_soon_threadsafe(lambda: [conn._abort() for conn in list(web.connections)])
        alice.expect("QUIT")
        alice.send("TOPIC #lobby :")  # gone while the page was away, as after a restart
        alice.expect("JOIN", timeout=15)  # the page is back
        page.wait_for_function("() => document.querySelector('#topic').textContent === ''")

        # The server goes away for good: its ERROR explains the first close only.
        server.stop()
        wait_text(page, "Server shutting down", exact=False)
        page.wait_for_function(
            """() => [...document.querySelectorAll('#message-list .text')]
                .filter(e => e.textContent.startsWith('Disconnected (')).length >= 3""",
            timeout=15_000,
        )
        notices = [text for text in message_texts(page) if text.startswith("Disconnected (")]
        assert "Server shutting down" in notices[1], notices
        assert notices[2].startswith("Disconnected (connection closed)"), notices
    finally:
        context.close()
