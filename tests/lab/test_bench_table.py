"""The benchmark's arithmetic and table (no lab needed), on the runs README's 50-instance rows
come from (`python3 -m tests.lab bench --counts 50 --runs 5`, 2026-12-03)."""

from __future__ import annotations

import sys

import pytest

from . import settings

# bench reaches the shared scenarios as `tests.functional`, as `python -m tests.lab` runs it.
if str(settings.REPO) not in sys.path:
    sys.path.append(str(settings.REPO))

from .bench import Runs, percentile, table  # noqa: E402

SUITE_50 = [115.0, 137.6, 132.6, 128.6, 124.0]
UPSTREAM_50 = [336.7, 371.9, 325.4, 354.4, 329.6]


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        (SUITE_50, 50, 128.6),  # the 3rd of 5
        (SUITE_50, 95, 137.6),  # the 5th of 5
        (UPSTREAM_50, 50, 336.7),
        ([91.6], 50, 91.6),  # the CI's short form: one run is both
        ([91.6], 95, 91.6),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),  # nearest rank, not the mean of the middle two
        ([float(n) for n in range(1, 21)], 95, 19.0),
    ],
)
def test_percentile_is_nearest_rank(values, pct, expected):
    assert percentile(values, pct) == expected


def test_table_rows_ratio_and_safety_counts():
    results = {
        ("upstream", 50): Runs(UPSTREAM_50),
        ("suite", 50): Runs(SUITE_50),
        ("suite", 10): Runs([91.6], early=1),
    }
    lines = table(results).splitlines()
    assert lines[1].split()[:4] == ["defaults", "instances", "guests", "runs"]
    rows = [line.split() for line in lines[2:]]
    # By instance count, then profile; the ratio only on upstream's row with a suite row beside.
    assert rows == [
        ["suite", "10", "real", "1", "91.6", "91.6", "1", "of", "1", "0", "of", "1"],
        ["suite", "50", "fake", "5", "128.6", "137.6", "0", "of", "5", "0", "of", "5"],
        ["upstream", "50", "fake", "5", "336.7", "371.9", "2.6x", "0", "of", "5", "0", "of", "5"],
    ]
    assert Runs([91.6], early=1).unsafe and not Runs(SUITE_50).unsafe
    assert Runs([91.6], doubled=1).unsafe
