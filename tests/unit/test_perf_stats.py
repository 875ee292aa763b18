"""Pure arithmetic of the perf reports: percentiles, repeat summaries, ratios, verdicts."""
from __future__ import annotations

import pytest

from k8snet.perf import stats


def test_percentile_interpolates_like_numpy() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert stats.percentile(values, 50) == pytest.approx(2.5)
    assert stats.percentile(values, 0) == 1.0
    assert stats.percentile(values, 100) == 4.0
    assert stats.percentile(list(range(101)), 99) == pytest.approx(99.0)
    assert stats.percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_none_not_zero() -> None:
    assert stats.percentile([], 50) is None


def test_summarize_gives_median_min_max_over_measured_values() -> None:
    summ = stats.summarize([3.0, 1.0, 2.0])
    assert summ == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3, "failed": 0}


def test_summarize_counts_failed_repeats_without_averaging_them_in() -> None:
    summ = stats.summarize([5.0, None, 7.0])
    assert summ["median"] == 6.0
    assert summ["min"] == 5.0
    assert summ["n"] == 2
    assert summ["failed"] == 1


def test_summarize_all_failed_is_none() -> None:
    assert stats.summarize([None, None]) is None
    assert stats.summarize([]) is None


@pytest.mark.parametrize("value, against, expected", [
    (4.0, 5.0, 0.8),
    (5.0, 4.0, 1.25),
    (None, 5.0, None),
    (4.0, None, None),
    (4.0, 0.0, None),
])
def test_ratio_only_from_two_measured_numbers(value, against, expected) -> None:
    got = stats.ratio(value, against)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_evaluate_marks_met_not_met_and_failed() -> None:
    assert stats.evaluate(0.9, 0.9) == stats.MET
    assert stats.evaluate(0.89, 0.9) == stats.NOT_MET
    assert stats.evaluate(None, 0.9) == stats.FAILED
    assert stats.evaluate(1.05, 1.1, higher_is_better=False) == stats.MET
    assert stats.evaluate(1.2, 1.1, higher_is_better=False) == stats.NOT_MET
