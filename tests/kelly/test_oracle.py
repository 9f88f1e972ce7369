"""The Kelly NE oracle against two independent solvers, closed forms and exploitability."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import root

from auction_envs.oracles.kelly import (
    kelly_best_response,
    kelly_gradient,
    kelly_nash_conv,
    kelly_nash_equilibrium,
    kelly_payoff,
    kelly_residual,
    kelly_welfare_optimum,
    others_bid,
)


def best_response_fixed_point(a, c, eps, delta, alpha=1.0, tol=1e-15, max_sweeps=200_000):
    """Gauss-Seidel best-response dynamics: each player in turn best-responds to the others."""
    bids = np.full_like(a, eps)
    for _ in range(max_sweeps):
        previous = bids.copy()
        for i in range(a.size):
            s_i = bids.sum() - bids[i] + delta
            bids[i] = kelly_best_response(np.array([s_i]), a[i:i + 1], eps, c[i], alpha)[0]
        if np.max(np.abs(bids - previous)) <= tol * max(1.0, np.max(bids)):
            return bids
    raise AssertionError("best-response dynamics did not converge")


def kkt_root(a, c, eps, delta, start):
    """Independent solve of the KKT system: mid(z - eps, -grad, z - c) = 0 for every player.

    The median of the three terms vanishes exactly when the gradient is 0 inside the box, <= 0
    at the lower bound or >= 0 at the upper bound: the equilibrium conditions, solved by
    MINPACK's hybrid method without using any best-response formula.
    """
    def kkt(bids):
        gradient = kelly_gradient(bids, others_bid(bids, delta), a)
        return np.median(np.stack([bids - eps, -gradient * np.maximum(bids, eps), bids - c]), axis=0)

    solution = root(kkt, start, method="hybr", options={"xtol": 1e-15, "maxfev": 100_000})
    assert np.max(np.abs(kkt(solution.x))) < 1e-9, solution.message
    return solution.x


instances = st.builds(
    lambda n, seed: _instance(n, seed), st.integers(2, 20), st.integers(0, 2**31 - 1)
)


def _instance(n, seed):
    """Heterogeneous a_i; some budgets below the free equilibrium bid; some a_i tiny (bind at eps)."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.05, 200.0, n)
    a[rng.random(n) < 0.25] = rng.uniform(0.01, 0.5)  # these want less than the minimum bid
    eps = rng.uniform(0.5, 2.0)
    c = rng.uniform(eps, 150.0, n)
    delta = rng.uniform(0.01, 1.0)
    return a, c, eps, delta


@settings(max_examples=60, deadline=None)
@given(instances)
def test_oracle_matches_best_response_fixed_point_and_kkt_root(instance):
    a, c, eps, delta = instance
    equilibrium = kelly_nash_equilibrium(a, c, eps, delta)
    fixed_point = best_response_fixed_point(a, c, eps, delta)
    scale = max(1.0, float(np.max(equilibrium)))
    np.testing.assert_allclose(equilibrium, fixed_point, rtol=0, atol=1e-9 * scale)
    independent = kkt_root(a, c, eps, delta, start=np.clip(fixed_point * 1.01, eps, c))
    np.testing.assert_allclose(equilibrium, independent, rtol=0, atol=1e-9 * scale)
    assert kelly_nash_conv(equilibrium, a, eps, c, delta) <= 1e-9
    assert kelly_residual(equilibrium, a, eps, c, delta) <= 1e-9 * scale


def test_instances_exercise_binding_budgets_and_minimum_bids():
    a = np.array([100.0, 90.0, 0.05, 0.2, 60.0])
    c = np.array([20.0, 400.0, 400.0, 400.0, 15.0])
    eps, delta = 1.0, 0.1
    equilibrium = kelly_nash_equilibrium(a, c, eps, delta)
    assert equilibrium[0] == c[0] and equilibrium[4] == c[4]        # budgets bind
    assert equilibrium[2] == eps and equilibrium[3] == eps          # minimum bids bind
    assert eps < equilibrium[1] < c[1]                              # interior
    np.testing.assert_allclose(equilibrium, best_response_fixed_point(a, c, eps, delta),
                               atol=1e-9 * equilibrium.max(), rtol=0)
    assert kelly_nash_conv(equilibrium, a, eps, c, delta) <= 1e-9


def test_homogeneous_closed_form():
    # n identical log bidders, no reserve binding: z = a (n - 1) S / (n S) with S = n z + delta.
    n, a, delta = 10, 100.0, 0.1
    z = kelly_nash_equilibrium(np.full(n, a), 400.0, 1.0, delta)
    total = z.sum() + delta
    np.testing.assert_allclose(z, a * total / (total + a), rtol=1e-14)
    # delta -> 0 limit a (n - 1) / n = 90
    assert z[0] == pytest.approx(90.0, abs=2e-3)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0, 3.0])
def test_alpha_fair_equilibrium_is_a_fixed_point(alpha):
    rng = np.random.default_rng(int(alpha * 10))
    a = rng.uniform(20, 150, 6)
    c = np.full(6, 400.0)
    equilibrium = kelly_nash_equilibrium(a, c, 1.0, 0.1, alpha)
    assert kelly_residual(equilibrium, a, 1.0, c, 0.1, alpha) <= 1e-8 * equilibrium.max()
    assert kelly_nash_conv(equilibrium, a, 1.0, c, 0.1, alpha) <= 1e-9
    np.testing.assert_allclose(equilibrium, best_response_fixed_point(a, c, 1.0, 0.1, alpha),
                               atol=1e-8 * equilibrium.max(), rtol=0)


@pytest.mark.parametrize("alpha, closed_form", [
    (1.0, lambda a, s: (-s + np.sqrt(s * s + 4 * a * s)) / 2),
    (0.0, lambda a, s: np.sqrt(a * s) - s),
    (2.0, lambda a, s: np.sqrt(a * s)),
])
def test_best_response_closed_forms(alpha, closed_form):
    a = np.array([50.0, 100.0, 150.0])
    s = np.array([3.0, 40.0, 90.0])
    np.testing.assert_allclose(kelly_best_response(s, a, 1e-9, 1e9, alpha), closed_form(a, s),
                               rtol=1e-12)


@given(st.floats(0.1, 3.0), st.floats(1.0, 200.0), st.floats(0.5, 500.0))
@settings(max_examples=80, deadline=None)
def test_best_response_maximizes_payoff(alpha, a, s):
    """No bid on a fine grid of [eps, c] earns more than the best response."""
    eps, c = 1.0, 400.0
    best = kelly_best_response(np.array([s]), np.array([a]), eps, c, alpha)
    grid = np.linspace(eps, c, 4001)
    payoff_best = kelly_payoff(best, s, a, alpha)[0]
    assert np.all(kelly_payoff(grid, s, a, alpha) <= payoff_best + 1e-9 * max(1.0, abs(payoff_best)))


@given(instances, st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None)
def test_residual_and_nash_conv_positive_away_from_equilibrium(instance, seed):
    a, c, eps, delta = instance
    equilibrium = kelly_nash_equilibrium(a, c, eps, delta)
    rng = np.random.default_rng(seed)
    moved = equilibrium.copy()
    i = rng.integers(a.size)
    # move one interior-or-bound bid to the far end of its box: certainly not a best response
    moved[i] = c[i] if equilibrium[i] - eps < (c[i] - eps) / 2 else eps
    if abs(moved[i] - equilibrium[i]) < 1e-3:
        return
    assert kelly_residual(moved, a, eps, c, delta) > 0
    assert kelly_nash_conv(moved, a, eps, c, delta) > 0


def test_welfare_optimum_allocates_in_proportion_to_a():
    a = np.array([1.0, 2.0, 7.0])
    allocation, welfare = kelly_welfare_optimum(a)
    np.testing.assert_allclose(allocation, a / a.sum())
    assert welfare == pytest.approx(np.sum(a * np.log(a / a.sum())))


@pytest.mark.parametrize("kwargs, message", [
    ({"a": np.array([-1.0, 2.0])}, "a must be"),
    ({"eps": 0.0}, "eps must be"),
    ({"delta": -1.0}, "delta must be"),
    ({"c": 0.5}, "budgets c"),
    ({"alpha": -1.0}, "alpha must be"),
])
def test_oracle_rejects_bad_arguments(kwargs, message):
    arguments = {"a": np.array([10.0, 20.0]), "c": 400.0, "eps": 1.0, "delta": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        kelly_nash_equilibrium(**arguments)


@pytest.mark.parametrize("alpha", [1.0, 0.0, 2.0, 0.5])
def test_oracles_over_a_leading_batch_axis_match_row_by_row(alpha):
    from auction_envs.oracles.kelly import bid_grid, kelly_round

    rng = np.random.default_rng(3)
    a = rng.uniform(1.0, 150.0, 6)
    c = rng.uniform(5.0, 300.0, 6)
    bids = rng.uniform(1.0, 5.0, (4, 6))
    grid = bid_grid(np.ones(6), c, 5)
    batched = kelly_round(bids, a, 1.0, c, 0.1, alpha, grid)
    for row in range(4):
        single = kelly_round(bids[row], a, 1.0, c, 0.1, alpha, grid)
        for key, value in single.items():
            np.testing.assert_allclose(batched[key][row], value, rtol=1e-13, err_msg=key)
        np.testing.assert_allclose(
            kelly_best_response(others_bid(bids, 0.1), a, 1.0, c, alpha)[row],
            kelly_best_response(others_bid(bids[row], 0.1), a, 1.0, c, alpha), rtol=1e-13)
        assert kelly_residual(bids, a, 1.0, c, 0.1, alpha)[row] == pytest.approx(
            kelly_residual(bids[row], a, 1.0, c, 0.1, alpha), rel=1e-13)
        assert kelly_nash_conv(bids, a, 1.0, c, 0.1, alpha)[row] == pytest.approx(
            kelly_nash_conv(bids[row], a, 1.0, c, 0.1, alpha), rel=1e-12)
    # counterfactual payoffs are the payoff of each grid bid against this round's s_i
    np.testing.assert_allclose(
        batched["counterfactual_payoffs"][2, 3],
        kelly_payoff(grid[3], batched["others_bid"][2, 3], a[3], alpha), rtol=1e-13)


def test_grid_valuations_and_payoff_range_by_hand():
    from auction_envs.oracles.kelly import (
        bid_grid,
        kelly_payoff_range,
        kelly_valuations,
        normalized_payoff,
    )

    np.testing.assert_array_equal(kelly_valuations(4, 100.0, 40.0, 5.0), [100.0, 60.0, 20.0, 5.0])
    np.testing.assert_array_equal(bid_grid([1.0, 2.0], [3.0, 2.0], 3),
                                  [[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    a = np.array([10.0, 20.0])
    low, high = kelly_payoff_range(a, np.array([5.0, 5.0]), 1.0, 0.5)
    # s_max = 5.5, s_min = 1.5; worst: bid 1 or 5 against 5.5; best: BR against 1.5
    worst = min(min(ai * np.log(z / (z + 5.5)) - z for z in (1.0, 5.0)) for ai in a)
    best_bid = np.clip((-1.5 + np.sqrt(1.5**2 + 4 * a * 1.5)) / 2, 1.0, 5.0)
    best = np.max(a * np.log(best_bid / (best_bid + 1.5)) - best_bid)
    assert (low, high) == (pytest.approx(worst), pytest.approx(best))
    assert normalized_payoff(np.array([low, high]), low, high).tolist() == [0.0, 1.0]
    assert normalized_payoff(np.array([-3.0]), -3.0, -3.0).tolist() == [1.0]
