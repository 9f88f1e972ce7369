"""The leaderboard statistics agree with rliable's own functions on synthetic score matrices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from benchmarks import stats

rliable_metrics = pytest.importorskip("rliable.metrics", reason="rliable is in the dev extra")

matrices = arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 4)),
                  elements=st.floats(-100, 100, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_iqm_matches_rliable(scores):
    assert stats.iqm(scores) == pytest.approx(rliable_metrics.aggregate_iqm(scores), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_median_and_mean_match_rliable(scores):
    assert stats.median(scores) == pytest.approx(rliable_metrics.aggregate_median(scores), abs=1e-9)
    assert stats.mean(scores) == pytest.approx(rliable_metrics.aggregate_mean(scores), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(matrices, st.integers(0, 10**6))
def test_probability_of_improvement_matches_rliable(x, seed):
    y = x + np.random.default_rng(seed).normal(0, 5, size=x.shape).round()
    assert stats.probability_of_improvement(x, y) == pytest.approx(
        rliable_metrics.probability_of_improvement(x, y), abs=1e-12)


def test_stratified_bootstrap_resamples_within_tasks():
    # task 0 is constant 0, task 1 constant 10: every stratified replicate keeps one of each,
    # so the mean is exactly 5 in every replicate (an unstratified bootstrap would vary)
    scores = np.column_stack([np.zeros(6), np.full(6, 10.0)])
    assert stats.stratified_bootstrap_ci(scores, stats.mean, reps=300) == (5.0, 5.0)


def test_bootstrap_interval_is_seeded_and_covers_the_truth():
    rng = np.random.default_rng(0)
    hits = 0
    for trial in range(200):
        sample = rng.normal(3.0, 1.0, size=(20, 1))
        low, high = stats.stratified_bootstrap_ci(sample, stats.mean, reps=400, seed=trial)
        hits += low <= 3.0 <= high
    assert 0.88 <= hits / 200 <= 0.99  # nominal 95%
    assert stats.stratified_bootstrap_ci(sample, seed=1) == stats.stratified_bootstrap_ci(sample, seed=1)


def test_performance_profile_and_paired_difference():
    scores = np.array([[0.1, 0.5], [0.9, 0.7]])
    np.testing.assert_allclose(stats.performance_profile(scores, [0.0, 0.6, 1.0]), [1.0, 0.5, 0.0])
    result = stats.paired_difference_ci(np.array([2.0, 3.0, 4.0]), np.array([1.0, 1.0, 1.0]))
    assert result["mean"] == 2.0 and result["low"] < 2.0 < result["high"]
    with pytest.raises(ValueError):
        stats.iqm(np.zeros((0, 2)))
