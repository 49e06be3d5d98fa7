"""The web client's use of issue 15's extensions, in Debian's Chromium against a real server.

Avatars and display names (draft/metadata-2), read markers shared by two pages of one account
(draft/read-marker, with SASL PLAIN from the login form), typing indicators (+typing), edits
(draft/message-edit), multiline pastes (draft/multiline), away members and bots — and the same
page against a server that offers none of the four stored extensions: the page's WebSocket is
routed through Playwright, which removes them from the server's `CAP LS` (the page then sees
exactly what a server without them would say; nothing in the page is switched off).

Avatars come from a small HTTP server on loopback started by the test (no external network).
A screenshot goes to the test's tmp dir, and to docs/img/web-modern.png with
HUBBUB_UPDATE_SCREENSHOTS=1. Skipped without Chromium, as test_browser.py.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser import (
    heard,
    join_as,
    message_texts,
    open_page,
    save_screenshot,
    talker,
    wait_room,
    wait_text,
)

from support.config import web_server_config
from support.irc_client import IrcClient
from support.servers import ThreadedServer

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "img" / "web-modern.png"
MODERN = ("draft/metadata-2", "draft/read-marker", "draft/multiline", "draft/message-edit")

pytestmark = pytest.mark.e2e


def png(size: int, rgb: tuple[int, int, int], ring: tuple[int, int, int]) -> bytes:
    """A small PNG: a disc of one colour on another (so a loaded avatar is recognisable)."""
    rows = b""
    centre = (size - 1) / 2
    for y in range(size):
        row = b"\x00"
        for x in range(size):
            inside = (x - centre) ** 2 + (y - centre) ** 2 <= (size * 0.32) ** 2
            row += bytes(rgb if inside else ring)
        rows += row

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


IMAGES = {
    "/alice.png": png(48, (236, 72, 153), (253, 224, 239)),
    "/bob.png": png(48, (14, 165, 233), (224, 242, 254)),
    "/dana.png": png(48, (34, 197, 94), (220, 252, 231)),
}


class ImageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = IMAGES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    """The base URL of a loopback HTTP server with the avatars."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ImageHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    # Cheap password hashes: the accounts here exist for one test.
    config = web_server_config(tmp_path, accounts={"hash_time_cost": 1, "hash_memory_kib": 1024})
    thread = ThreadedServer(config).start()
    try:
        yield thread
    finally:
        thread.stop()


def wait_js(page: Any, script: str, arg: Any = None, timeout: int = 10_000) -> None:
    page.wait_for_function(script, arg=arg, timeout=timeout)


def member_row(page: Any, nick: str) -> Any:
    return page.locator("#member-list .member").filter(
        has=page.locator(".member-nick", has_text=re.compile(f"^{re.escape(nick)}$"))
    )


def unread_of(page: Any, room: str) -> str:
    return str(
        page.evaluate(
            """room => {
                const r = [...document.querySelectorAll('#room-list .room')]
                    .find(r => r.querySelector('.room-name').textContent === room);
                const badge = r && r.querySelector('.unread');
                return badge ? badge.textContent : '';
            }""",
            room,
        )
    )


def wait_unread(page: Any, room: str, count: str) -> None:
    """Wait until `room`'s unread badge reads `count` ("" = no badge)."""
    wait_js(
        page,
        """([room, count]) => {
            const r = [...document.querySelectorAll('#room-list .room')]
                .find(r => r.querySelector('.room-name').textContent === room);
            const badge = r && r.querySelector('.unread');
            return r && (badge ? badge.textContent : '') === count;
        }""",
        [room, count],
    )


def switch_to(page: Any, room: str) -> None:
    page.locator("#room-list .room-button", has_text=room).click()
    wait_room(page, room)


def test_avatars_display_names_the_profile_panel_away_members_and_bots(
    browser: Any, server: ThreadedServer, images: str, tmp_path: Path
) -> None:
    alice = talker(server, "alice")
    bob = talker(server, "bob")
    carol = talker(server, "carol")
    watcher = IrcClient(server.address, timeout=10)
    try:
        watcher.register("watcher", caps=["draft/metadata-2"])
        watcher.send("METADATA * SUB avatar display-name")
        watcher.expect("770")
        for client in (alice, bob, carol, watcher):
            client.join("#lobby")
        alice.send(f"METADATA * SET avatar :{images}/alice.png")
        alice.send("METADATA * SET display-name :Alice Liddell")
        bob.send(f"METADATA * SET avatar :{images}/bob.png")
        bob.send("MODE bob +B")
        carol.send("AWAY :at lunch")
        carol.expect("306")

        context, page, dialogs = open_page(browser, server)
        try:
            join_as(page, "dana")
            # The bot tag comes on live messages (history does not keep it).
            bob.say("#lobby", "build #412 passed")
            # Alice's picture, loaded (the CSP lets http: images through), at a fixed size,
            # without a referrer; her display name beside her nick.
            wait_js(
                page,
                """src => [...document.querySelectorAll('#member-list .member img')]
                    .some(img => img.src === src && img.complete && img.naturalWidth === 48)""",
                f"{images}/alice.png",
            )
            row = member_row(page, "alice")
            image = row.locator(".avatar img")
            assert image.get_attribute("referrerpolicy") == "no-referrer"
            assert image.get_attribute("width") == "20"
            assert row.locator(".display-name").text_content() == "Alice Liddell"
            # Carol has no avatar: a letter; she is away: greyed out (WHO flag G).
            wait_js(
                page,
                """() => [...document.querySelectorAll('#member-list .member.away .member-nick')]
                    .some(e => e.textContent === 'carol')""",
            )
            assert member_row(page, "carol").locator(".avatar").get_attribute("data-letter") == "C"
            assert member_row(page, "carol").locator("img").count() == 0
            # Bob is a bot (WHO flag B), and so is his message (the bot tag).
            wait_js(
                page,
                """() => [...document.querySelectorAll('#member-list .member.bot .member-nick')]
                    .some(e => e.textContent === 'bob')""",
            )
            assert member_row(page, "bob").locator(".bot-badge").text_content() == "bot"
            wait_text(page, "build #412 passed")
            bot_message = page.locator("#message-list .msg", has_text="build #412 passed")
            assert bot_message.locator(".bot-badge").count() == 1
            assert bot_message.locator(".avatar img").get_attribute("src") == f"{images}/bob.png"

            # Live changes: alice's new display name, carol back.
            alice.send("METADATA * SET display-name :Alice L.")
            carol.send("AWAY")
            wait_js(
                page,
                """() => [...document.querySelectorAll('#member-list .display-name')]
                    .some(e => e.textContent === 'Alice L.')""",
            )
            wait_js(
                page,
                """() => [...document.querySelectorAll('#member-list .member')].some(
                    m => m.querySelector('.member-nick').textContent === 'carol'
                        && !m.classList.contains('away'))""",
            )
            alice.say("#lobby", "hello dana")
            wait_text(page, "hello dana")
            said = page.locator("#message-list .msg", has_text="hello dana")
            assert said.locator(".display-name").text_content() == "Alice L."

            # The profile panel: a non-http avatar is refused; then set both keys.
            page.click("#profile-open")
            page.fill("#profile-avatar", "javascript:alert(1)")
            page.fill("#profile-display-name", "Dana Scully")
            page.click("#profile-form button[type=submit]")
            wait_text(page, "http:// or https://", selector="#profile-error", exact=False)
            page.fill("#profile-avatar", f"{images}/dana.png")
            page.click("#profile-form button[type=submit]")
            page.wait_for_selector("#profile", state="hidden")
            keys = {}
            for _ in range(2):
                line = watcher.first(lambda x: x.command == "METADATA" and x.params[0] == "dana")
                keys[line.params[1]] = line.params[-1]
            assert keys == {"avatar": f"{images}/dana.png", "display-name": "Dana Scully"}
            # The page shows its own profile from the server's answer.
            wait_js(
                page,
                """src => [...document.querySelectorAll('#member-list .member img')]
                    .some(img => img.src === src && img.naturalWidth === 48)""",
                f"{images}/dana.png",
            )
            assert dialogs == []
            assert not [e for e in page.errors if "favicon" not in e], page.errors  # type: ignore[attr-defined]
        finally:
            context.close()
    finally:
        for client in (alice, bob, carol, watcher):
            client.close()


def test_read_markers_clear_unread_counts_on_the_other_page_of_the_account(
    browser: Any, server: ThreadedServer
) -> None:
    setup = IrcClient(server.address, timeout=10)
    setup.register("setup", caps=["draft/account-registration"])
    setup.send("REGISTER reader * correct-horse-battery")
    setup.first(lambda x: x.command == "REGISTER" and x.params[0] == "SUCCESS")
    setup.close()
    alice = talker(server, "alice")
    alice.join("#news")
    first_context, first, _ = open_page(browser, server)
    second_context, second, _ = open_page(browser, server)
    try:
        for page in (first, second):
            page.fill("#nick", "reader")
            page.fill("#password", "correct-horse-battery")
            page.click("#login-form button[type=submit]")
            wait_room(page, "#lobby")
            page.fill("#input", "/join #news")
            page.press("#input", "Enter")
            wait_room(page, "#news")
            switch_to(page, "#lobby")
        # Both pages are logged in to the one account (SASL PLAIN from the login form).
        for page in (first, second):
            wait_js(page, "() => window.hubbub.loggedIn === true")
        alice.say("#news", "news one", "news two")
        for page in (first, second):
            wait_unread(page, "#news", "2")
        # Reading #news on the first page moves the account's marker; the second page, still
        # on #lobby, drops its count.
        switch_to(first, "#news")
        wait_unread(second, "#news", "")
        assert unread_of(second, "#lobby") == ""
        wait_room(second, "#lobby")
        # Only what was read: a newer message counts again on the second page.
        first.locator("#room-list .room-button", has_text="#lobby").click()
        wait_room(first, "#lobby")
        alice.say("#news", "news three")
        wait_unread(second, "#news", "1")
        wait_unread(first, "#news", "1")
        # A third device, opened now, joins #news in the background (a room it remembers):
        # the history after the account's marker is unread there too, the rest is not.
        third_context, third, _ = open_page(browser, server)
        try:
            third.evaluate("() => localStorage.setItem('hubbub.rooms', '[\"#lobby\",\"#news\"]')")
            third.reload()
            third.fill("#nick", "reader")
            third.fill("#password", "correct-horse-battery")
            third.click("#login-form button[type=submit]")
            wait_room(third, "#lobby")
            wait_js(
                third,
                """() => [...document.querySelectorAll('#room-list .room-name')]
                    .some(e => e.textContent === '#news')""",
            )
            wait_unread(third, "#news", "1")
            wait_room(third, "#lobby")
            # Reading it there clears it on the other two.
            switch_to(third, "#news")
            wait_unread(first, "#news", "")
            wait_unread(second, "#news", "")
        finally:
            third_context.close()
    finally:
        first_context.close()
        second_context.close()
        alice.close()


def test_typing_edits_and_multiline_on_the_other_page_and_in_history(
    browser: Any, server: ThreadedServer, images: str, tmp_path: Path
) -> None:
    plain = talker(server, "plain")  # no capabilities: the fallbacks
    plain.join("#lobby")
    tagged = IrcClient(server.address, timeout=10)
    tagged.register("tagged", caps=["message-tags"])
    tagged.join("#lobby")
    writer_context, writer, _ = open_page(browser, server)
    reader_context, reader, _ = open_page(browser, server)
    try:
        join_as(writer, "writer")
        join_as(reader, "reader")
        # Typing: the reader sees it while the writer composes, and not once the text is sent.
        writer.click("#input")
        started = time.monotonic()
        writer.keyboard.type("hello the")
        wait_text(reader, "writer is typing…", selector="#typing")
        writer.keyboard.type("re")
        writer.keyboard.press("Enter")
        typed_for = time.monotonic() - started
        wait_text(reader, "hello there")
        wait_js(reader, "() => document.querySelector('#typing').textContent === ''")
        # Eleven keys, but "active" at most once every 3 seconds (the typing spec's rate).
        lines = tagged.until(lambda x: x.command == "PRIVMSG" and x.params[-1] == "hello there")
        active = [x for x in lines if x.command == "TAGMSG" and x.tags.get("+typing") == "active"]
        assert 1 <= len(active) <= 1 + int(typed_for // 3), (len(active), typed_for)
        # Emptying the input says "done".
        writer.keyboard.type("never mind")
        wait_text(reader, "writer is typing…", selector="#typing")
        writer.fill("#input", "")
        writer.dispatch_event("#input", "input")
        wait_js(reader, "() => document.querySelector('#typing').textContent === ''")

        # ↑ in the empty input edits the last message; everyone sees "(edited)".
        writer.keyboard.press("ArrowUp")
        assert writer.input_value("#input") == "hello there"
        writer.locator("#edit-hint").wait_for(state="visible")
        writer.fill("#input", "hello there, everyone")
        writer.keyboard.press("Enter")
        for page in (reader, writer):
            wait_js(
                page,
                """() => [...document.querySelectorAll('#message-list .msg.edited')].some(
                    m => m.querySelector('.text').textContent === 'hello there, everyone'
                        && m.querySelector('.edited-mark').textContent === '(edited)')""",
            )
        assert "hello there" not in message_texts(reader)
        nick, params = heard(
            plain, lambda cmd, params: cmd == "PRIVMSG" and "correction" in params[-1]
        )
        assert nick == "writer" and params[-1] == "* correction: hello there, everyone"

        # A multiline paste: Shift+Enter for the line breaks, one message on the other page.
        writer.click("#input")
        writer.keyboard.type("first line")
        writer.keyboard.press("Shift+Enter")
        writer.keyboard.type("second line")
        writer.keyboard.press("Shift+Enter")
        writer.keyboard.type("third line")
        assert writer.input_value("#input") == "first line\nsecond line\nthird line"
        writer.keyboard.press("Enter")
        wait_text(reader, "first line\nsecond line\nthird line")
        assert reader.locator("#message-list .msg", has_text="second line").count() == 1
        # A client without draft/multiline gets the lines one by one.
        got = [
            heard(plain, lambda cmd, params, n=n: cmd == "PRIVMSG" and params[-1] == n)[1][-1]
            for n in ("first line", "second line", "third line")
        ]
        assert got == ["first line", "second line", "third line"]

        # A line too long for one PRIVMSG goes in pieces joined again (draft/multiline-concat),
        # with the multi-byte characters intact.
        long_paste = "é" * 300 + "x" * 300 + "\nand a short one"
        writer.fill("#input", long_paste)
        writer.press("#input", "Enter")
        wait_text(reader, long_paste)

        # A page that comes later gets both from history: one message, and "(edited)".
        late_context, late, _ = open_page(browser, server)
        try:
            join_as(late, "latecomer")
            wait_text(late, "first line\nsecond line\nthird line")
            wait_text(late, "hello there, everyone")
            wait_text(late, long_paste)
            edited = late.locator("#message-list .msg", has_text="hello there, everyone")
            assert edited.locator(".edited-mark").text_content() == "(edited)"
            assert late.locator("#message-list .msg", has_text="second line").count() == 1
        finally:
            late_context.close()
    finally:
        writer_context.close()
        reader_context.close()
        plain.close()
        tagged.close()


def strip_modern_caps(line: str) -> str:
    """A `CAP * LS` line of the server without the four stored extensions."""
    match = re.match(r"^(\S+ CAP \S+ LS (?:\* )?:?)(.*)$", line)
    if not match:
        return line
    kept = [cap for cap in match.group(2).split(" ") if cap.split("=")[0] not in MODERN]
    head = match.group(1) if match.group(1).endswith(":") else match.group(1) + ":"
    return head + " ".join(kept)


def test_against_a_server_without_the_extensions_the_page_falls_back(
    browser: Any, server: ThreadedServer
) -> None:
    plain = talker(server, "plain")
    plain.join("#lobby")
    seen_ls: list[str] = []
    sent: list[str] = []

    def route(ws: Any) -> None:
        upstream = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if " CAP " in text and " LS " in text:
                text = strip_modern_caps(text)
                seen_ls.append(text)
            ws.send(text)

        def from_page(message: str | bytes) -> None:
            sent.append(message if isinstance(message, str) else message.decode())
            upstream.send(message)

        upstream.on_message(from_server)
        ws.on_message(from_page)

    context, page, dialogs = open_page(browser, server)
    try:
        page.route_web_socket(re.compile(r"/irc$"), route)
        page.reload()
        join_as(page, "oldschool")
        assert seen_ls and not any(cap in line for line in seen_ls for cap in MODERN)
        assert page.locator("#profile-open").is_hidden()
        # A paste with line breaks goes as separate messages.
        page.click("#input")
        page.keyboard.type("one")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("two")
        page.keyboard.press("Enter")
        heard(plain, lambda cmd, params: cmd == "PRIVMSG" and params[-1] == "one")
        heard(plain, lambda cmd, params: cmd == "PRIVMSG" and params[-1] == "two")
        wait_text(page, "two")
        # ↑ recalls what was sent instead of editing it.
        page.keyboard.press("ArrowUp")
        assert page.input_value("#input") == "one\ntwo"
        assert page.locator("#edit-hint").is_hidden()
        page.fill("#input", "")
        plain.say("#lobby", "still works")
        wait_text(page, "still works")
        commands = {line.split(" ")[0] for line in sent if not line.startswith("@")}
        commands |= {line.split(" ")[1] for line in sent if line.startswith("@")}
        assert not commands & {"METADATA", "MARKREAD", "EDIT", "BATCH"}, sent
        assert not [t for t in message_texts(page) if "FAIL" in t or "Unknown command" in t]
        assert dialogs == []
    finally:
        context.close()
        plain.close()


def test_screenshot_with_avatars_and_an_edited_message(
    browser: Any, server: ThreadedServer, images: str, tmp_path: Path
) -> None:
    alice = talker(server, "alice")
    bob = talker(server, "bob")
    carol = talker(server, "carol")
    try:
        for client in (alice, bob, carol):
            client.join("#lobby")
        alice.send("TOPIC #lobby :hubbub: rooms that remember. Be kind.")
        alice.send(f"METADATA * SET avatar :{images}/alice.png")
        alice.send("METADATA * SET display-name :Alice Liddell")
        bob.send(f"METADATA * SET avatar :{images}/bob.png")
        bob.send("MODE bob +B")
        alice.say("#lobby", "morning! the release notes are up")
        heard(bob, lambda cmd, params: cmd == "PRIVMSG" and params[-1].startswith("morning"))
        carol.send("AWAY :at lunch")
        carol.expect("306")

        context, page, dialogs = open_page(browser, server)
        try:
            join_as(page, "dana")
            wait_text(page, "release notes are up", exact=False)
            bob.say("#lobby", "build #412 passed: 1,204 tests, 0 failures")
            wait_text(page, "build #412", exact=False)
            page.click("#profile-open")
            page.fill("#profile-avatar", f"{images}/dana.png")
            page.fill("#profile-display-name", "Dana Scully")
            page.click("#profile-form button[type=submit]")
            page.click("#input")
            page.keyboard.type("release notes: checked, two typos")
            page.keyboard.press("Enter")
            wait_text(page, "release notes: checked, two typos")
            page.keyboard.press("ArrowUp")
            page.fill("#input", "release notes: checked, one typo (fixed)")
            page.keyboard.press("Enter")
            page.wait_for_selector("#message-list .msg.edited")
            page.keyboard.type("the list of changes:")
            page.keyboard.press("Shift+Enter")
            page.keyboard.type("- avatars and display names")
            page.keyboard.press("Shift+Enter")
            page.keyboard.type("- edits, read markers, typing")
            page.keyboard.press("Enter")
            wait_text(page, "- edits, read markers, typing", exact=False)
            alice.send("@+typing=active TAGMSG #lobby")
            wait_text(page, "alice is typing…", selector="#typing")
            wait_js(
                page,
                """() => [...document.querySelectorAll('#message-list img')]
                    .filter(img => img.complete && img.naturalWidth === 48).length >= 3""",
            )
            page.mouse.move(640, 20)
            page.evaluate("() => document.activeElement.blur()")
            shot = save_screenshot(page, tmp_path, "web-modern.png")
            if os.environ.get("HUBBUB_UPDATE_SCREENSHOTS") == "1":
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, SCREENSHOT)
            # The same on a phone, with the member drawer open; nothing sticks out sideways.
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_function("() => document.querySelector('#rooms-toggle').offsetWidth > 0")
            page.eval_on_selector("#messages", "m => { m.scrollTop = m.scrollHeight; }")
            assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
            save_screenshot(page, tmp_path, "web-modern-phone.png")
            page.click("#members-toggle")
            page.wait_for_function(
                "() => document.querySelector('#members-pane').getBoundingClientRect().right"
                " <= window.innerWidth + 1"
            )
            save_screenshot(page, tmp_path, "web-modern-phone-members.png")
            page.keyboard.press("Escape")
            page.click("#rooms-toggle")
            page.click("#profile-open")
            page.wait_for_selector("#profile", state="visible")
            save_screenshot(page, tmp_path, "web-modern-profile.png")
            assert dialogs == []
        finally:
            context.close()
    finally:
        for client in (alice, bob, carol):
            client.close()


def test_a_wrong_password_leaves_the_page_a_guest_with_the_error_shown(
    browser: Any, server: ThreadedServer
) -> None:
    setup = IrcClient(server.address, timeout=10)
    setup.register("setup", caps=["draft/account-registration"])
    setup.send("REGISTER owner * correct-horse-battery")
    setup.first(lambda x: x.command == "REGISTER" and x.params[0] == "SUCCESS")
    setup.close()
    context, page, _ = open_page(browser, server)
    try:
        page.fill("#nick", "owner")
        page.fill("#password", "wrong-password")
        page.click("#login-form button[type=submit]")
        wait_room(page, "#lobby")
        wait_js(
            page,
            """() => window.hubbub.buffers.serverBuffer.messages.some(
                m => m.kind === 'error' && /SASL|authentication/i.test(m.text))""",
        )
        assert page.evaluate("() => window.hubbub.loggedIn") is False
        # The password is not kept in the form, nor stored.
        assert page.input_value("#password") == ""
        assert "wrong-password" not in str(page.evaluate("() => JSON.stringify(localStorage)"))
    finally:
        context.close()
