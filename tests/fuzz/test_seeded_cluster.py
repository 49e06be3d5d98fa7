"""A few of `scripts/fuzz --seeds` runs (tests/fuzz/seeded_cluster.py), so that the driver
keeps working with the machine it drives; its long campaigns are for `scripts/fuzz`."""

from __future__ import annotations

from seeded_cluster import one_run


def test_seeded_runs_agree() -> None:
    assert [seed for seed in range(30) if one_run(seed, 40) is not None] == []
