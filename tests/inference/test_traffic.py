"""Weighted version choice: exact shares, interleaved, optionally phase-shifted by an RNG."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from services.inference.traffic import TrafficSplitter


def test_every_cycle_gives_each_version_exactly_its_share() -> None:
    splitter = TrafficSplitter({"1": 70, "2": 20, "3": 10})
    picks = [splitter.pick() for _ in range(1000)]
    assert Counter(picks) == {"1": 700, "2": 200, "3": 100}
    for start in range(0, 1000, 10):  # weights share a factor of 10: cycles of 10 picks
        assert Counter(picks[start : start + 10]) == {"1": 7, "2": 2, "3": 1}


def test_picks_interleave_instead_of_running_in_blocks() -> None:
    splitter = TrafficSplitter({"a": 50, "b": 50})
    assert [splitter.pick() for _ in range(6)] == ["a", "b", "a", "b", "a", "b"]
    lopsided = TrafficSplitter({"a": 75, "b": 25})
    assert [lopsided.pick() for _ in range(4)].count("b") == 1


def test_an_injected_rng_shifts_the_start_but_not_the_shares() -> None:
    first = [TrafficSplitter({"a": 90, "b": 10}, rng=random.Random(seed)).pick() for seed in range(40)]
    assert "b" in first, "replicas should not all start on the same version"
    splitter = TrafficSplitter({"a": 90, "b": 10}, rng=random.Random(1))
    assert Counter(splitter.pick() for _ in range(100)) == {"a": 90, "b": 10}
    same_seed = [TrafficSplitter({"a": 90, "b": 10}, rng=random.Random(7)) for _ in range(2)]
    assert [same_seed[0].pick() for _ in range(30)] == [same_seed[1].pick() for _ in range(30)]


def test_zero_weights_get_no_traffic() -> None:
    splitter = TrafficSplitter({"a": 100, "b": 0})
    assert {splitter.pick() for _ in range(50)} == {"a"}
    assert splitter.weights == {"a": 100}


@pytest.mark.parametrize("weights", [{}, {"a": 0}, {"a": -1, "b": 101}])
def test_unusable_weights_are_refused(weights: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="weight"):
        TrafficSplitter(weights)
