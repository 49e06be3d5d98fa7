"""Bot mode's tag is part of the per-profile formatting: one bytes object per tag profile,
shared by every recipient of that profile."""

from __future__ import annotations

from core_helpers import Harness


def test_bot_tag_formatted_once_per_profile(h: Harness) -> None:
    robot = h.client("robot")
    tagged = [h.client(f"t{i}", ["message-tags"]) for i in range(3)]
    plain = [h.client(f"p{i}") for i in range(3)]
    h.join("#room", robot, *tagged, *plain)
    robot.send("MODE robot +B")
    h.drain()
    robot.send("PRIVMSG #room :beep")
    tagged_writes = [c.link.writes[-1] for c in tagged]
    plain_writes = [c.link.writes[-1] for c in plain]
    assert all(w is tagged_writes[0] for w in tagged_writes)
    assert all(w is plain_writes[0] for w in plain_writes)
    assert tagged_writes[0].startswith(b"@") and b"bot" in tagged_writes[0].split(b" ")[0]
    assert plain_writes[0].startswith(b":robot!")


def test_bot_mode_can_be_dropped(h: Harness) -> None:
    robot, human = h.client("robot"), h.client("human", ["message-tags"])
    h.join("#room", robot, human)
    robot.send("MODE robot +B")
    robot.send("MODE robot -B")
    h.drain()
    robot.send("PRIVMSG #room :hello")
    assert b"bot" not in human.link.writes[-1].split(b" ")[0]
