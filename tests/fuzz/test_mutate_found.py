"""The `FOUND`-entry mutation driver (tests/fuzz/mutate_found.py) on one short entry, so that
it keeps working with the machine it drives; its whole sweep is for `scripts/fuzz --mutants`."""

from __future__ import annotations

import mutate_found
import pytest
from mutate_found import (
    CLIENTS,
    COMMANDS,
    FAULTS,
    OTHERS,
    disagreement,
    fault_variants,
    other_variants,
    variants,
)
from test_cluster_stateful import ClusterMachine, drawable

STEPS = ["send(3, 'JOIN #c key')", "hold()", "send(3, 'NICK yan')", "settle()"]


def test_each_command_is_replaced_and_inserted() -> None:
    made = list(variants(STEPS))
    assert len(made) == 2 * 2 * len(COMMANDS)  # two client commands, replaced and inserted
    assert ["send(3, 'PART #a')", *STEPS[1:]] in made
    assert [*STEPS[:3], "send(3, 'QUIT :q')", "settle()"] in made


def test_the_variants_of_a_short_entry_agree() -> None:
    assert [v for v in variants(STEPS) if disagreement(v) is not None] == []


def test_each_fault_is_inserted_after_each_step() -> None:
    made = list(fault_variants(STEPS))
    assert len(made) == len(STEPS) * len(FAULTS)
    assert [STEPS[0], "outage()", *STEPS[1:]] in made
    assert [*STEPS, "lose(2)"] in made


def test_a_fault_is_taken_only_where_hypothesis_could_draw_it() -> None:
    machine = ClusterMachine()
    machine.start()
    assert drawable(machine, "outage") and not drawable(machine, "back")
    machine.outage()
    assert drawable(machine, "back") and not drawable(machine, "outage")


def test_the_fault_variants_of_a_short_entry_agree() -> None:
    made = fault_variants(STEPS)
    assert [v for v in made if disagreement(v, where_drawable=True) is not None] == []


def test_a_disagreement_is_reported_once_with_its_shortest_variant(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def replayed(steps: str, where_drawable: bool = False) -> None:
        if "QUIT" in steps:  # a machine where any QUIT breaks the network
            raise AssertionError("#a: the bus's fields differ\n(details)")

    monkeypatch.setattr(mutate_found, "replayed", replayed)
    monkeypatch.setattr(mutate_found, "FOUND", {"an entry": "\n".join(STEPS)})
    assert mutate_found.main([]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "== #a: the bus's fields differ (a variant of 'an entry', 4 steps)"
    assert printed[1:5] == ["send(3, 'QUIT :q')", *STEPS[1:]]
    assert printed[-1] == f"{4 * len(COMMANDS)} variants of 1 entries: 1 kinds of disagreement"


def test_each_client_is_made_to_send_each_contending_command_after_each_step() -> None:
    made = list(other_variants(STEPS))
    assert len(made) == len(STEPS) * len(CLIENTS) * len(OTHERS)
    assert [STEPS[0], "send(5, 'NICK zed')", *STEPS[1:]] in made
    assert [*STEPS, "send(0, 'QUIT :q')"] in made


def test_the_other_clients_variants_of_a_short_entry_agree() -> None:
    made = other_variants(STEPS)
    assert [v for v in made if disagreement(v, where_drawable=True) is not None] == []


def test_the_others_axis_is_chosen_by_its_flag_and_replayed_as_hypothesis_would_draw_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    drawn: list[bool] = []

    def replayed(steps: str, where_drawable: bool = False) -> None:
        drawn.append(where_drawable)

    monkeypatch.setattr(mutate_found, "replayed", replayed)
    monkeypatch.setattr(mutate_found, "FOUND", {"an entry": "\n".join(STEPS)})
    assert mutate_found.main(["--others"]) == 0
    made = len(STEPS) * len(CLIENTS) * len(OTHERS)
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{made} variants of 1 entries: 0 kinds of disagreement"
    )
    assert drawn == [True] * made
