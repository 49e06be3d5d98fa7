"""Variations of the cluster fuzz target's `FOUND` entries (`scripts/fuzz --mutants`).

A `FOUND` entry is a schedule that once broke the cluster: the bus holding calls, a node
lagging, Redis going away, all around one kind of command. The commands next to it are where
the same moment may break again, so this driver replays every entry with each of its client
commands replaced by another command of that client, and with another command of that client
inserted after it, from `COMMANDS` (the commands most events of a room come from). Each
variant is checked as `test_found_sequences_agree` checks an entry (every node agrees after
each step and once settled; no client is sent a line twice), and each kind of disagreement is
printed once, with the shortest variant that showed it: steps ready for `FOUND`. It found, in
the forty-ninth session, five kinds that years of seeded runs had not (docs/cluster-fuzzing.md).

With `--faults`, it varies the other axis: the schedule. Each of `FAULTS` (the bus holding or
answering a call, a node lagging, dying, cut off or catching up, a room's feed held and
released, Redis going away, losing its data or its last writes, coming back, a closed client
reconnecting) is inserted after each step of an entry, and every step of a variant is taken
only where its rule's precondition holds (as Hypothesis would draw it).

With `--others`, it varies who else is talking: each of `OTHERS` (the commands that contend
across nodes for a room, a nick or a registration), sent by each client, is inserted after each
step of an entry, so that an entry's moment meets a client of another node acting at it. Steps
are taken where Hypothesis could draw them, as with `--faults`.

Runs `python tests/fuzz/mutate_found.py [--faults | --others] [PART PARTS]`: the entries
whose index modulo PARTS is PART (all of them unless given), so that two processes can share
the work. The exit status is 1 if anything disagreed.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent, HERE.parent / "core"):
    sys.path.insert(0, str(path))

from test_cluster_stateful import FOUND, NICKS, replayed  # noqa: E402 (after the paths above)

from hubbub.core.cluster_accounts import ACCOUNTS_ROOM  # noqa: E402

#: What a mutation puts in a client's place: messages (and a multiline batch, a private
#: message, a REDACT and an EDIT of the room's newest), membership, the room's state (and what
#: decides a JOIN: `+l`, `+i`, `+k`, a ban, set and lifted; an operator's and a voice's
#: standing), its metadata and registration, nicks (a free one, and one another user holds or
#: is leaving), a user's own state, a KILL, a rename and a quit (the events whose order the
#: cluster keeps).
COMMANDS = (
    "PRIVMSG #a :m",
    "NOTICE #a :n",
    "PART #a",
    "JOIN #a",
    "JOIN #b",
    "JOIN 0",
    "PRIVMSG #b :m",
    "PART #b",
    "TOPIC #b :t",
    "MULTILINE #a 7",
    "PRIVMSG bob :p",
    "REDACT #a 1 :r 0",
    "EDIT #a 1 :edit 0",
    "TOPIC #a :t",
    "METADATA #a SET color :c",
    "MODE #a +m",
    "MODE #a +l 2",
    "MODE #a +i",
    "MODE #a +k key",
    "MODE #a +b frank!*@*",
    "MODE #a +o dave",
    "MODE #a -o carol",
    "MODE #a +v bob",
    "MODE #a -l",
    "MODE #a -i",
    "MODE #a -b frank!*@*",
    "KICK #a carol",
    "INVITE frank #a",
    "INVITE dave #a",
    "KILL carol :k",
    "NICK zed",
    "NICK yan",
    "NICK carol",
    "AWAY :afk",
    "SETNAME :new name",
    "PRIVMSG NickServ :LOGOUT",
    "PRIVMSG ChanServ :REGISTER #a",
    "RENAME #a #d :r",
    "QUIT :q",
)

#: What `--faults` inserts: the rules of the machine's schedule, for each node where they take
#: one (a held feed is released when the run settles, or by `release_feed`; the client
#: commands are `COMMANDS`' axis), and a closed client's reconnection: to its own nick, to
#: another's, to one that differs from its holder's only in case, with and without SASL.
FAULTS = (
    "hold()",
    *(f"answer({pick})" for pick in range(3)),
    *(f"lag({pick})" for pick in range(3)),
    *(f"lose({pick})" for pick in range(3)),
    *(f"cut({pick})" for pick in range(3)),
    *(f"catch_up({pick})" for pick in range(3)),
    *(f"back_but({pick})" for pick in range(3)),
    *(
        f"{rule}({pick}, {feed!r})"
        for rule in ("hold_feed", "release_feed")
        for feed in ("#a", ACCOUNTS_ROOM)
        for pick in range(3)
    ),
    *(f"hold_registry({pick})" for pick in range(3)),
    *(f"answer_registry({pick})" for pick in range(3)),
    "outage()",
    "outlive()",
    "rejoin()",
    "wipe()",
    "wipe_in_flight()",
    *(f"lose_end({count})" for count in (1, 2, 4)),
    "back()",
    "restart()",
    "reconnect(0, 'alice', True, False)",
    "reconnect(1, 'bob', False, True)",
    "reconnect(0, 'Alice', True, True)",
    "reconnect(2, 'zed', False, False)",
    "tick()",
    "settle()",
)

#: What `--others` has every client send: what contends across nodes (a message in the room,
#: membership, a nick another client may want, the room's limit, a ban, a KICK, a rename, a
#: registration, a quit).
OTHERS = (
    "PRIVMSG #a :m",
    "JOIN #a",
    "PART #a",
    "NICK zed",
    "MODE #a +l 2",
    "MODE #a +b frank!*@*",
    "KICK #a carol",
    "RENAME #a #d :r",
    "PRIVMSG ChanServ :REGISTER #a",
    "QUIT :q",
)

#: The machine's clients, by index, each of which `--others` has send `OTHERS`.
CLIENTS = range(len(NICKS))

_SEND = re.compile(r"send\((\d+), ")


def variants(steps: list[str]) -> Iterator[list[str]]:
    """Each client command of `steps` replaced by each of `COMMANDS` of that client, and each
    of them inserted after it."""
    for index, step in enumerate(steps):
        sent = _SEND.match(step)
        if sent is None:
            continue
        for command in COMMANDS:
            other = f"send({sent.group(1)}, {command!r})"
            yield [*steps[:index], other, *steps[index + 1 :]]
            yield [*steps[: index + 1], other, *steps[index + 1 :]]


def fault_variants(steps: list[str]) -> Iterator[list[str]]:
    """Each of `FAULTS` inserted after each step of `steps`."""
    for index in range(len(steps)):
        for fault in FAULTS:
            yield [*steps[: index + 1], fault, *steps[index + 1 :]]


def other_variants(steps: list[str]) -> Iterator[list[str]]:
    """Each of `OTHERS`, sent by each client, inserted after each step of `steps`."""
    for index in range(len(steps)):
        for client in CLIENTS:
            for command in OTHERS:
                other = f"send({client}, {command!r})"
                yield [*steps[: index + 1], other, *steps[index + 1 :]]


def disagreement(steps: list[str], *, where_drawable: bool = False) -> str | None:
    """The first line of what `steps` broke, replayed as a `FOUND` entry (`where_drawable`:
    each step only where Hypothesis could draw it), or None."""
    try:
        replayed("\n".join(steps), where_drawable=where_drawable)
    except AssertionError as error:
        return str(error).split("\n")[0][:80]
    return None


def main(arguments: list[str]) -> int:
    faults = "--faults" in arguments
    others = "--others" in arguments
    arguments = [argument for argument in arguments if argument not in ("--faults", "--others")]
    made = fault_variants if faults else other_variants if others else variants
    part, parts = (int(arguments[0]), int(arguments[1])) if len(arguments) > 1 else (0, 1)
    names = list(FOUND)[part::parts]
    shortest: dict[str, tuple[str, list[str]]] = {}
    tried = 0
    for name in names:
        steps = [line.strip() for line in FOUND[name].strip().splitlines() if line.strip()]
        for variant in made(steps):
            tried += 1
            try:
                kind = disagreement(variant, where_drawable=faults or others)
            except Exception:  # a crash is a finding too
                print(f"a variant of {name!r}: an exception", file=sys.stderr)
                print("\n".join(variant), file=sys.stderr)
                traceback.print_exc()
                return 1
            if kind is not None and (kind not in shortest or len(variant) < len(shortest[kind][1])):
                shortest[kind] = (name, variant)
    for kind, (name, variant) in shortest.items():
        print(f"== {kind} (a variant of {name!r}, {len(variant)} steps)")
        print("\n".join(variant))
    print(f"{tried} variants of {len(names)} entries: {len(shortest)} kinds of disagreement")
    return 1 if shortest else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
