"""The full-screen client: a Textual application around `ClientState` and `Connection`.

    ┌ topic bar ─────────────────────────────────────────────────────────┐
    │ rooms     │ messages                                  │ members    │
    │ (unread,  │ (times, coloured nicks, history dimmed    │ (@ op,     │
    │  mentions)│  behind a separator, mentions highlighted)│  + voice)  │
    ├ status line ───────────────────────────────────────────────────────┤
    └ input ─────────────────────────────────────────────────────────────┘

Textual runs everything on one asyncio loop: the connection's reader is a task on it, keys are
handled on it, and neither ever blocks — reading the socket only appends to the message log,
and the input line is a widget the socket side never touches, so typing and receiving go on
at once without disturbing each other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Paste
from textual.widgets import Input, RichLog, Static

from hubbub.client.commands import Quit, parse_input
from hubbub.client.complete import Completion, complete
from hubbub.client.connection import Backoff, ConnectFailed, Connection, now_ms
from hubbub.client.format import clock, nick_colour
from hubbub.client.model import (
    BufferKind,
    BuffersChanged,
    Disconnected,
    Event,
    Fatal,
    Kind,
    Line,
    LinesAdded,
    LinesChanged,
    MembersChanged,
    Registered,
    SwitchTo,
    TopicChanged,
    TypingChanged,
)
from hubbub.client.options import ChatOptions
from hubbub.client.state import MAX_LINES, SERVER, WANTED_CAPS, ClientState

__all__ = ["NEWLINE_MARK", "ChatApp", "render_line", "run_ui"]

NEWLINE_MARK = "\u21b5"
"""How a line break shows in the one-line input (↵); it is sent as a new line."""
TICK_SECONDS = 1.0  # how often typing notices are paused or expired

EVENT_STYLES = {
    Kind.JOIN: "green",
    Kind.PART: "yellow",
    Kind.QUIT: "yellow",
    Kind.KICK: "red",
    Kind.NICK: "cyan",
    Kind.TOPIC: "magenta",
    Kind.MODE: "cyan",
    Kind.INFO: "bright_black",
}


# Terminals send Alt+digit as ESC + digit, which Textual reports as the character macOS types
# for Option+digit (its escape-sequence table maps "\x1b1" to "¡"), so bind those names too.
OPTION_DIGITS = (
    "inverted_exclamation_mark",
    "trade_mark_sign",
    "pound_sign",
    "cent_sign",
    "infinity",
    "section_sign",
    "pilcrow_sign",
    "bullet",
    "ª",
)


def render_line(line: Line, now: int, fold: Callable[[str], str] = str.lower) -> Text:
    """One line of the message log, as Rich text; `fold` casefolds nicks for their colour."""
    if line.kind is Kind.SEPARATOR:
        return Text(f"──── {line.text} ────", style="bold yellow", justify="center")
    text = Text(clock(line.time_ms, now) + " ", style="bright_black")
    colour = nick_colour(fold(line.nick)) if line.nick else "white"
    body_style = "bold black on yellow" if line.mention else ""
    # A multi-line message (draft/multiline): continuation lines indented under the first.
    body = line.text.replace("\n", "\n" + " " * 8)
    if line.kind is Kind.MESSAGE:
        text.append("<")
        text.append(line.nick, style=f"bold {colour}")
        text.append("> ")
        text.append(body, style=body_style)
    elif line.kind is Kind.ACTION:
        text.append("* ")
        text.append(line.nick, style=f"bold {colour}")
        text.append(" " + body, style=body_style or "italic")
    elif line.kind is Kind.NOTICE:
        text.append("-")
        text.append(line.nick, style=colour)
        text.append("- ")
        text.append(body, style=body_style)
    elif line.kind is Kind.ERROR:
        text.append("!! " + line.text, style="bold red")
    else:
        text.append("-- " + line.text, style=EVENT_STYLES.get(line.kind, ""))
    if line.edited:
        text.append(" (edited)", style="italic bright_black")
    if line.history:
        text.stylize("dim")
    return text


class ChatInput(Input):
    """The input line; it leaves the Alt+digit keys to the app's window bindings.

    Tab completes nicks, Ctrl+J (or Alt+Enter) puts a line break in (shown as ↵), a pasted
    text keeps its line breaks, and Up in an empty line recalls our last message for /edit.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", "complete a nick", show=False),
        Binding("up", "recall", "edit your last message", show=False),
        Binding("ctrl+j", "newline", "new line", show=False),
        Binding("alt+enter", "newline", "new line", show=False),
    ]

    completion: Completion | None = None

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        if key in OPTION_DIGITS:
            return False
        return super().check_consume_key(key, character)

    def action_newline(self) -> None:
        self.insert_text_at_cursor(NEWLINE_MARK)

    def _on_paste(self, event: Paste) -> None:
        text = event.text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
        if text:
            self.insert_text_at_cursor(text.replace("\n", NEWLINE_MARK))
        event.stop()
        event.prevent_default()  # Input's own handler would insert the first line again

    def action_complete(self) -> None:
        app = self.app
        if isinstance(app, ChatApp):
            names = app.completion_names()
            done = complete(
                self.value, self.cursor_position, names, self.completion, app.state.fold
            )
            if done is not None:
                self.completion = done
                self.value = done.value
                self.cursor_position = done.cursor

    def action_recall(self) -> None:
        app = self.app
        if self.value or not isinstance(app, ChatApp):
            return
        line = app.state.last_own(app.state.active)
        if line is not None:
            self.value = "/edit " + line.text.replace("\n", NEWLINE_MARK)
            self.cursor_position = len(self.value)


class ChatApp(App[int]):
    """`hubbub chat`: rooms on the left, messages in the middle, members on the right."""

    TITLE = "hubbub chat"
    ENABLE_COMMAND_PALETTE = False  # Ctrl+P is "previous window" here
    CSS = """
    #topic { height: 1; background: $primary-darken-2; color: $text; padding: 0 1; }
    #main { height: 1fr; }
    #rooms { width: 22; height: 1fr; border-right: solid $primary-darken-3; padding: 0 1; }
    #log { width: 1fr; padding: 0 1; scrollbar-size-vertical: 1; }
    #members { width: 20; height: 1fr; border-left: solid $primary-darken-3; padding: 0 1; }
    #status { height: 1; background: $boost; color: $text-muted; padding: 0 1; }
    #input { border: none; height: 1; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "cycle(1)", "next window", priority=True),
        Binding("ctrl+p", "cycle(-1)", "previous window", priority=True),
        Binding("ctrl+q", "leave", "quit", priority=True),
        Binding("pageup", "scroll(-1)", "scroll up", show=False),
        Binding("pagedown", "scroll(1)", "scroll down", show=False),
        *(
            Binding(key, f"window({n})", show=False, priority=True)
            for n in range(1, 10)
            for key in (f"alt+{n}", OPTION_DIGITS[n - 1])
        ),
    ]

    def __init__(self, options: ChatOptions) -> None:
        super().__init__()
        self.options = options
        self.state = ClientState(
            options.nick,
            options.rooms,
            password=options.password,
            wanted_caps=WANTED_CAPS if options.caps is None else options.caps,
        )
        self.connection = Connection(
            self.state,
            options.host,
            options.port,
            self.show_events,
            backoff=Backoff(options.backoff_base),
            on_status=self.show_status,
            more_servers=options.more_servers,
        )
        self.status_text = ""
        self.typing_text = ""
        self._runner: asyncio.Task[None] | None = None

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="topic")
        with Horizontal(id="main"):
            yield Static(id="rooms")
            yield RichLog(id="log", wrap=True, markup=False, max_lines=MAX_LINES, min_width=20)
            yield Static(id="members")
        yield Static(id="status")
        yield ChatInput(id="input", placeholder="type a message, or /help")

    def on_mount(self) -> None:
        self.query_one("#input", Input).focus()
        self.redraw()
        self._runner = asyncio.create_task(self._connect(), name="hubbub-chat-socket")
        self.set_interval(TICK_SECONDS, self.tick)

    def tick(self) -> None:
        """Pause our typing notice when the user stopped, forget others' stale ones."""
        self.connection.perform(self.state.tick(now_ms()))

    async def _connect(self) -> None:
        try:
            await self.connection.run()
        except ConnectFailed as exc:
            self.show_status(f"{exc} (Ctrl+Q quits)")
            self.show_events(self.state.info(SERVER, str(exc), now_ms(), Kind.ERROR))

    async def on_unmount(self) -> None:
        self.connection.stop()
        if self._runner is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._runner, 2.0)

    # -- drawing ----------------------------------------------------------------------------

    @property
    def log_widget(self) -> RichLog:
        return self.query_one("#log", RichLog)

    def show_events(self, events: list[Event]) -> None:
        """Render what the state reported (called on the loop, by the connection or input)."""
        active = self.state.active
        rooms = members = topic = redraw = False
        for event in events:
            if isinstance(event, LinesAdded):
                rooms = True
                if event.buffer == active and not redraw:
                    if event.appended:
                        now = now_ms()
                        for line in event.lines:
                            self.log_widget.write(render_line(line, now, self.state.fold))
                    else:
                        redraw = True
            elif isinstance(event, LinesChanged):
                redraw = redraw or event.buffer == active
            elif isinstance(event, TypingChanged):
                if event.buffer == active:
                    self.draw_status()
            elif isinstance(event, SwitchTo) or self.state.active != active:
                active = self.state.active
                redraw = True
            elif isinstance(event, BuffersChanged):
                rooms = True
            elif isinstance(event, MembersChanged):
                members = members or event.buffer == active
            elif isinstance(event, TopicChanged):
                topic = topic or event.buffer == active
            elif isinstance(event, Registered):
                self.show_status(f"connected to {self.connection.where} as {event.nick}")
                rooms = topic = True
            elif isinstance(event, Disconnected):
                self.show_status(f"disconnected: {event.reason}")
            elif isinstance(event, Fatal):
                self.show_status(f"{event.reason} (Ctrl+Q quits)")
        if redraw:
            self.redraw()
            return
        if rooms:
            self.draw_rooms()
        if members:
            self.draw_members()
        if topic:
            self.draw_topic()

    def show_status(self, text: str) -> None:
        self.status_text = text
        self.draw_status()

    def draw_status(self) -> None:
        """The connection's status, and who is typing in the window shown."""
        nicks = self.state.typing_nicks(self.state.active)
        if not nicks:
            self.typing_text = ""
        elif len(nicks) == 1:
            self.typing_text = f"{nicks[0]} is typing…"
        elif len(nicks) <= 3:
            self.typing_text = f"{', '.join(nicks[:-1])} and {nicks[-1]} are typing…"
        else:
            self.typing_text = "several people are typing…"
        text = Text(self.status_text)
        if self.typing_text:
            text.append(("  ·  " if self.status_text else "") + self.typing_text, style="italic")
        with contextlib.suppress(Exception):  # before mount or after unmount: nothing to draw
            self.query_one("#status", Static).update(text)

    def redraw(self) -> None:
        """Draw the whole active window again (after a switch or inserted history)."""
        log = self.log_widget
        log.clear()
        now = now_ms()
        for line in self.state.buffers[self.state.active].lines:
            log.write(render_line(line, now, self.state.fold), scroll_end=False)
        log.scroll_end(animate=False)
        self.draw_rooms()
        self.draw_members()
        self.draw_topic()
        self.draw_status()

    def draw_rooms(self) -> None:
        text = Text()
        for number, key in enumerate(self.state.ordered(), 1):
            buffer = self.state.buffers[key]
            style = "reverse bold" if key == self.state.active else ""
            if buffer.kind is BufferKind.CHANNEL and not buffer.joined:
                style += " dim"
            label = f"{number} {buffer.name}"
            text.append(label, style=style.strip())
            if buffer.mentions:
                text.append(f" @{buffer.mentions}", style="bold black on yellow")
            if buffer.unread:
                text.append(f" {buffer.unread}", style="bold cyan")
            text.append("\n")
        self.query_one("#rooms", Static).update(text)

    def draw_members(self) -> None:
        members = self.state.members(self.state.active)
        text = Text()
        if self.state.buffers[self.state.active].kind is BufferKind.CHANNEL:
            text.append(f"{len(members)} here\n", style="bold")
        for member in members:
            prefix = member.prefix or " "
            text.append(prefix, style="bold green" if prefix == "@" else "bold cyan")
            style = nick_colour(self.state.fold(member.nick))
            text.append(member.nick, style=f"{style} dim" if member.away else style)
            if member.bot:
                text.append(" bot", style="bold magenta dim" if member.away else "bold magenta")
            text.append("\n")
        self.query_one("#members", Static).update(text)

    def draw_topic(self) -> None:
        buffer = self.state.buffers[self.state.active]
        if buffer.kind is BufferKind.SERVER:
            topic = Text(f"hubbub chat · {self.connection.where} · you are {self.state.nick}")
        elif buffer.kind is BufferKind.QUERY:
            topic = Text(f"{buffer.name} · private conversation")
        else:
            topic = Text(buffer.name, style="bold")
            topic.append(" · " + (buffer.topic or "(no topic)"))
        self.query_one("#topic", Static).update(topic)

    # -- input and keys ---------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        self.state.composing(event.value.replace(NEWLINE_MARK, "\n"), now_ms())
        self.connection.flush()

    def completion_names(self) -> list[str]:
        """The nicks Tab completes in the window shown: its members, or the other party."""
        buffer = self.state.buffers[self.state.active]
        if buffer.kind is BufferKind.QUERY:
            return [buffer.name]
        names = [m.nick for m in buffer.members.values() if not self.state.is_me(m.nick)]
        return sorted(names, key=self.state.fold)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.value = ""
        action = parse_input(event.value.replace(NEWLINE_MARK, "\n"))
        if action is None:
            return
        if isinstance(action, Quit):
            await self.action_leave(action.reason)
            return
        self.connection.perform(self.state.perform(action, now_ms()))

    def switch_to(self, key: str) -> None:
        self.state.switch(key)
        self.connection.flush()  # viewing a window moves its read marker
        self.redraw()

    def action_cycle(self, step: int) -> None:
        self.state.switch_relative(step)
        self.connection.flush()
        self.redraw()

    def action_window(self, number: int) -> None:
        order = self.state.ordered()
        if 1 <= number <= len(order):
            self.switch_to(order[number - 1])

    def action_scroll(self, direction: int) -> None:
        log = self.log_widget
        if direction < 0:
            log.scroll_page_up()
        else:
            log.scroll_page_down()

    async def action_leave(self, reason: str = "") -> None:
        self.show_status("quitting…")
        await self.connection.quit(reason or "Leaving")
        self.exit(0)


def run_ui(options: ChatOptions) -> int:
    """Run the full-screen client until the user quits; returns the exit status."""
    status = ChatApp(options).run()
    return status if isinstance(status, int) else 0
