"""Aggregate statistics of a leaderboard, as rliable defines them (Agarwal et al., 2021).

Scores are matrices ``[runs, tasks]`` (one column per env, one row per seed); every function takes
such a matrix (a 1-D array is one task). numpy only, seeded, vectorized over bootstrap replicates.

* :func:`iqm`: interquartile mean over all runs and tasks (the mean of the middle 50%, with the
  fractional trimming of ``scipy.stats.trim_mean(·, 0.25)`` on the flattened scores, which is what
  ``rliable.metrics.aggregate_iqm`` computes);
* :func:`stratified_bootstrap_ci`: percentile confidence interval of any aggregate, resampling runs
  with replacement *within each task* (the stratified bootstrap of rliable's
  ``get_interval_estimates``);
* :func:`probability_of_improvement`: ``P(X > Y)`` averaged over tasks, ties counted one half
  (the Mann-Whitney U statistic over ``n·m`` pairs, rliable's ``probability_of_improvement``);
* :func:`performance_profile`: the fraction of runs whose score exceeds each threshold ``τ``;
* :func:`paired_difference_ci`: mean and t-interval of per-seed differences, for verdicts that can
  fail (paired per seed, never "intervals disjoint").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

Aggregate = Callable[[np.ndarray], float]


def _matrix(scores: np.ndarray) -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"scores must be [runs, tasks] with at least one run; got {array.shape}")
    return array


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all the scores (25% trimmed from each end)."""
    return float(stats.trim_mean(_matrix(scores).ravel(), proportiontocut=0.25))


def mean(scores: np.ndarray) -> float:
    return float(np.mean(_matrix(scores)))


def median(scores: np.ndarray) -> float:
    """Median over tasks of the per-task mean score (rliable's ``aggregate_median``)."""
    return float(np.median(np.mean(_matrix(scores), axis=0)))


def stratified_bootstrap_ci(scores: np.ndarray, aggregate: Aggregate = iqm, *, reps: int = 2000,
                            confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``aggregate`` under the stratified bootstrap (runs resampled within
    each task column). ``reps`` replicates drawn from ``np.random.default_rng(seed)``."""
    matrix = _matrix(scores)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    if reps < 1:
        raise ValueError(f"reps must be >= 1; got {reps}")
    runs, tasks = matrix.shape
    rng = np.random.default_rng(seed)
    rows = rng.integers(runs, size=(reps, runs, tasks))
    samples = matrix[rows, np.arange(tasks)]  # [reps, runs, tasks]
    if aggregate is iqm:  # vectorized fast path: trim_mean over the flattened replicates
        values = stats.trim_mean(samples.reshape(reps, -1), 0.25, axis=1)
    else:
        values = np.array([aggregate(sample) for sample in samples])
    alpha = (1 - confidence) / 2
    low, high = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """``P(X > Y)`` per task from every pair of runs (ties count 1/2), averaged over tasks."""
    x_matrix, y_matrix = _matrix(x), _matrix(y)
    if x_matrix.shape[1] != y_matrix.shape[1]:
        raise ValueError("x and y must have the same tasks (columns)")
    per_task = []
    for task in range(x_matrix.shape[1]):
        a, b = x_matrix[:, task][:, None], y_matrix[:, task][None, :]
        per_task.append(np.mean((a > b) + 0.5 * (a == b)))
    return float(np.mean(per_task))


def performance_profile(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of runs (over all tasks) whose score is above each threshold in ``taus``."""
    flat = _matrix(scores).ravel()
    return np.mean(flat[None, :] > np.asarray(taus, dtype=np.float64)[:, None], axis=1)


def paired_difference_ci(x: np.ndarray, y: np.ndarray, confidence: float = 0.95
                         ) -> dict[str, float]:
    """Mean of the per-seed differences ``x - y`` and its t-interval (``nan`` width for one seed)."""
    differences = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    if differences.ndim != 1 or differences.size == 0:
        raise ValueError("x and y must be 1-D arrays of the same seeds")
    centre = float(differences.mean())
    if differences.size < 2:
        return {"mean": centre, "low": float("nan"), "high": float("nan"), "n": 1}
    half = float(stats.t.ppf(0.5 + confidence / 2, differences.size - 1)
                 * differences.std(ddof=1) / np.sqrt(differences.size))
    return {"mean": centre, "low": centre - half, "high": centre + half, "n": int(differences.size)}
