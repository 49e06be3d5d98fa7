"""Seeded random runs of the cluster fuzz target's state machine (`scripts/fuzz --seeds A B`).

Hypothesis (test_cluster_stateful.py) explores by its own rules; this plain driver walks the
same machine with a fixed mix of steps per seed (mostly commands, then holds, answers, lags,
catch-ups, reconnections, the loss of a node (while Redis is away too) and its restart under its
node id, bus outages, Redis losing its data and settles), checks that every node agrees after
each step, and prints, for each kind of disagreement, the shortest run that showed it: steps
ready to paste into that file's `FOUND` (replayed by `test_found_sequences_agree`). Runs `python
tests/fuzz/seeded_cluster.py FIRST LAST [STEPS] [--lagging-wipes | --lost-ends | --held-feeds |
--registry] [--chatty] [--ticking]`; the exit status is 1 if anything disagreed.
`--lagging-wipes` makes a lagging node common, and Redis losing its data while one has events
waiting (`wipe_in_flight`): what some nodes read and others did not, lost, for the rooms written
back to reconcile (hubbub.core.cluster_resync). `--lost-ends` makes Redis come back from an
append-only file that missed its last writes (`lose_end`): the same, in the same epoch.
`--held-feeds` makes a node's feed of one room wait (filling a gap) while its other rooms go on.
`--chatty`, with any of them, makes a third of the steps clients joining rooms, talking,
redacting, editing there, deleting history; `--ticking`, one in twenty a millisecond passing on
Redis's clock (`tick`). `--registry` makes registered rooms common, their changes saved by nodes
whose registry workers hold their calls and answer them in turn (`hold_registry`,
`answer_registry`). Each step also checks that no client was sent a line twice.
"""

from __future__ import annotations

import random
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent, HERE.parent / "core"):
    sys.path.insert(0, str(path))

from test_cluster_stateful import (  # noqa: E402 (after the paths above)
    CHOICES,
    FEEDS,
    NICKS,
    OTHER_NICKS,
    TEMPLATES,
    ClusterMachine,
)

Chooser = Callable[[random.Random, ClusterMachine], "tuple[str, tuple[object, ...]] | None"]


def one_run(
    seed: int, steps: int, chooser: Chooser | None = None
) -> tuple[list[str], AssertionError] | None:
    """The steps of one seeded run and the disagreement it met, or None."""
    pick = random.Random(seed)
    machine = ClusterMachine()
    machine.start()
    taken: list[str] = []
    for number in range(steps + 1):
        chosen = ("settle", ()) if number == steps else (chooser or choose)(pick, machine)
        if chosen is None:
            continue
        rule, arguments = chosen
        taken.append(f"{rule}({', '.join(map(repr, arguments))})")
        getattr(machine, rule)(*arguments)
        try:
            machine.nobody_is_sent_a_line_twice()
            machine.every_node_agrees()
        except AssertionError as error:
            return taken, error
    return None


def choose(pick: random.Random, machine: ClusterMachine) -> tuple[str, tuple[object, ...]] | None:
    """The next step (a rule of the machine and its arguments), or None for none this time."""
    if machine.cluster.bus.away and pick.random() < 0.25:
        # A node is cut off: it may stay away past its lease (and be buried), or come back.
        outlives = machine.lost is None and machine.outlived is None and pick.random() < 0.6
        return ("outlive", ()) if outlives else ("rejoin", ())
    draw = pick.random()
    if draw < 0.55:
        index = pick.randrange(len(NICKS))
        template, number = pick.choice(TEMPLATES), pick.randrange(99)
        fields = {name: pick.choice(values) for name, values in CHOICES.items()}
        line = template.format(index=number, **fields)
        return "send", (index, line)
    if draw < 0.7:
        return "hold", ()
    if draw < 0.8:
        return ("answer", (pick.randrange(3),)) if machine.cluster.bus.waiting else None
    if draw < 0.85:
        return "lag", (pick.randrange(3),)
    if draw < 0.9:
        return ("catch_up", (pick.randrange(3),)) if machine.cluster.bus.backlog else None
    if draw < 0.93 and any(client.session.closed for client in machine.clients):
        index, nick = pick.randrange(len(NICKS)), pick.choice(NICKS + OTHER_NICKS)
        return "reconnect", (index, nick, pick.random() < 0.5, pick.random() < 0.5)
    if draw < 0.935 and machine.lost is None and not machine.cluster.bus.away:
        return "lose", (pick.randrange(3),)
    if draw < 0.935 and machine.lost is not None:  # started again under its node id
        return "restart", ()
    if draw < 0.945:
        if machine.cluster.bus.away:
            if machine.lost is None and machine.outlived is None and pick.random() < 0.3:
                return "outlive", ()
            return "rejoin", ()
        bus = machine.cluster.bus
        if not bus.available:
            if machine.lost is None and pick.random() < 0.2:  # a node dies meanwhile
                return "lose", (pick.randrange(3),)
            # Redis may come back without its data (a new epoch) or with it.
            wipes = not (machine.new_epoch or bus.queue or bus.backlog) and pick.random() < 0.4
            if wipes:
                return "wipe", ()
            if not machine.new_epoch and (bus.queue or bus.backlog) and pick.random() < 0.1:
                return "wipe_in_flight", ()
            if machine.lost is None and pick.random() < 0.3:  # one node back later
                return "back_but", (pick.randrange(3),)
            return "back", ()
        if not machine.calm():
            return None
        return ("outage", ()) if pick.random() < 0.5 else ("cut", (pick.randrange(3),))
    return "settle", ()


def choose_lagging_wipes(
    pick: random.Random, machine: ClusterMachine
) -> tuple[str, tuple[object, ...]] | None:
    """As `choose`, with a node lagging most of the time, and then, while it has events
    waiting, an outage and Redis losing its data with them."""
    bus = machine.cluster.bus
    waiting = any(bus.backlog.values())
    if not bus.available and not machine.new_epoch and waiting and pick.random() < 0.7:
        return "wipe_in_flight", ()
    if waiting and machine.calm() and pick.random() < 0.08:
        return "outage", ()
    if not bus.backlog and pick.random() < 0.1:
        return "lag", (pick.randrange(3),)
    return choose(pick, machine)


def choose_lost_ends(
    pick: random.Random, machine: ClusterMachine
) -> tuple[str, tuple[object, ...]] | None:
    """As `choose`, with a node lagging often, outages, and Redis coming back from them, now
    and then, from an append-only file that missed its last writes (`lose_end`): what some
    nodes had read and others had not, lost in the same epoch."""
    bus = machine.cluster.bus
    if not bus.available and not machine.new_epoch and bus.snapshots and pick.random() < 0.5:
        return "lose_end", (pick.randint(1, 6),)
    if machine.calm() and pick.random() < 0.05:
        return "outage", ()
    if not bus.backlog and pick.random() < 0.1:
        return "lag", (pick.randrange(3),)
    return choose(pick, machine)


def choose_held_feeds(
    pick: random.Random, machine: ClusterMachine
) -> tuple[str, tuple[object, ...]] | None:
    """As `choose`, with one node's feed of one room often held (filling a gap) while its
    other rooms go on, and released later: a node applying a room's events after later
    events of its other rooms (a RENAME after the new name's, a NICK in one room after the
    next in another; the accounts room's too: a history deletion after the account's next
    message)."""
    held = sorted(machine.cluster.bus.held_feeds)
    draw = pick.random()
    if draw < 0.04:
        return "hold_feed", (pick.randrange(3), pick.choice(FEEDS))
    if held and draw < 0.07:
        node_id, room = held[pick.randrange(len(held))]
        return "release_feed", (int(node_id.removeprefix("n")), room)
    return choose(pick, machine)


#: The templates `--registry` favours: accounts, joining rooms, registering them, changing
#: their topic, modes and metadata, and their registrations.
REGISTRY_TEMPLATES = [
    template
    for template in TEMPLATES
    if template.split(" ")[0] in ("JOIN", "PART", "TOPIC", "MODE", "METADATA")
    or template.startswith(
        ("PRIVMSG ChanServ", "PRIVMSG NickServ :REGISTER", "PRIVMSG NickServ :ID")
    )
]


def choose_registry(
    pick: random.Random, machine: ClusterMachine
) -> tuple[str, tuple[object, ...]] | None:
    """As `choose`, with a third of the steps a client registering an account or a room,
    joining or leaving rooms, changing their topic, modes and metadata, and each node's
    registry worker often holding its calls and answering them one by one: registered rooms
    whose changes two nodes save in either order, and ChanServ on a room's copy read from
    the registry. Nothing is lost for good (no node dies, Redis loses nothing in flight), so
    that the registry's copy of each registered room is checked to the end of the run."""
    draw = pick.random()
    if draw < 0.06:
        return "hold_registry", (pick.randrange(3),)
    if draw < 0.14:
        workers = machine.cluster.registry_workers.values()
        return (
            ("answer_registry", (pick.randrange(3),)) if any(w.pending for w in workers) else None
        )
    if draw < 0.2:
        # A logged-in operator of a room registers it (or is told it is registered already).
        operators = [
            (index, fold)
            for index, client in enumerate(machine.clients)
            if client.session.registered and client.session.user.account
            for fold, channel in client.session.user.channels.items()
            if channel.members[client.session.user].op
        ]
        if operators:
            index, fold = operators[pick.randrange(len(operators))]
            return "send", (index, f"PRIVMSG ChanServ :REGISTER {fold}")
    if draw < 0.45:
        index = pick.randrange(len(NICKS))
        template, number = pick.choice(REGISTRY_TEMPLATES), pick.randrange(99)
        fields = {name: pick.choice(values) for name, values in CHOICES.items()}
        return "send", (index, template.format(index=number, **fields))
    chosen = choose(pick, machine)
    if chosen is not None and chosen[0] in ("lose", "wipe_in_flight"):
        return None
    return chosen


#: The templates `--chatty` favours: joining rooms and talking there, REDACT and EDIT, and
#: a HistServ DELETE of the talker's history (if it is logged in).
CHAT_TEMPLATES = [
    template
    for template in TEMPLATES
    if template.split(" ")[0] in ("JOIN", "REDACT", "EDIT", "MULTILINE", "HISTSERV")
    or template.startswith("PRIVMSG {room}")
]


def chatty(chooser: Chooser) -> Chooser:
    """`chooser`, with a third of the steps a client joining a room or talking, redacting or
    editing there (or deleting its history): the other mixes leave few messages in a run, and
    so few to REDACT."""

    def choose_chatty(
        pick: random.Random, machine: ClusterMachine
    ) -> tuple[str, tuple[object, ...]] | None:
        if pick.random() >= 0.33:
            return chooser(pick, machine)
        index = pick.randrange(len(NICKS))
        template, number = pick.choice(CHAT_TEMPLATES), pick.randrange(99)
        fields = {name: pick.choice(values) for name, values in CHOICES.items()}
        return "send", (index, template.format(index=number, **fields))

    return choose_chatty


def ticking(chooser: Chooser) -> Chooser:
    """`chooser`, with one step in twenty a millisecond passing on Redis's clock (`tick`):
    the other mixes time every event alike, but where Redis loses the end of its data."""

    def choose_ticking(
        pick: random.Random, machine: ClusterMachine
    ) -> tuple[str, tuple[object, ...]] | None:
        if pick.random() < 0.05:
            return "tick", ()
        return chooser(pick, machine)

    return choose_ticking


CHOOSERS = {
    "--lagging-wipes": choose_lagging_wipes,
    "--lost-ends": choose_lost_ends,
    "--held-feeds": choose_held_feeds,
    "--registry": choose_registry,
}


def main(arguments: list[str]) -> int:
    chooser = next((CHOOSERS[flag] for flag in arguments if flag in CHOOSERS), choose)
    if "--chatty" in arguments:
        chooser = chatty(chooser)
    if "--ticking" in arguments:
        chooser = ticking(chooser)
    arguments = [argument for argument in arguments if not argument.startswith("--")]
    first, last = int(arguments[0]), int(arguments[1])
    steps = int(arguments[2]) if len(arguments) > 2 else 40
    shortest: dict[str, tuple[int, list[str]]] = {}
    for seed in range(first, last):
        try:
            found = one_run(seed, steps, chooser)
        except Exception:  # a crash is a finding too
            print(f"seed {seed}: an exception", file=sys.stderr)
            traceback.print_exc()
            return 1
        if found is None:
            continue
        taken, error = found
        kind = str(error).split("\n")[0][:80]
        if kind not in shortest or len(taken) < len(shortest[kind][1]):
            shortest[kind] = (seed, taken)
    for kind, (seed, taken) in shortest.items():
        print(f"== {kind} (seed {seed}, {len(taken)} steps)")
        print("\n".join(taken))
    print(f"{last - first} runs of {steps} steps: {len(shortest)} kinds of disagreement")
    return 1 if shortest else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
