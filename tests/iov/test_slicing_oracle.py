"""The exact slicing optimum (our active-set solver, numpy and numba-compiled) against KKT, each
other and an independent convex solver; VCG payments, truthful bids and QVCG (DP against HiGHS
milp)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction_envs.core.errors import InvalidArgumentError
from auction_envs.oracles._slicing_kernel import compiled_kernel
from auction_envs.oracles.slicing import (
    qvcg_allocation_dp,
    qvcg_allocation_milp,
    qvcg_tables,
    slicing_kkt_residual,
    slicing_utility,
    slicing_welfare_optimum,
    slicing_welfare_without,
    truthful_bids,
    vcg_payments,
)

needs_numba = pytest.mark.skipif(compiled_kernel() is None, reason="numba is not installed")
BACKENDS = ["numpy", pytest.param("numba", marks=needs_numba)]


def _instance(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(100, 200, n), rng.uniform(0, 10, (n, 3))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [1, 2, 3, 10, 20, 30, 40, 50])
def test_kkt_holds_to_1e9(n: int, backend: str) -> None:
    rng = np.random.default_rng(n)
    for _ in range(20):
        beta, xi = _instance(rng, n)
        s, welfare, prices = slicing_welfare_optimum(beta, xi, return_prices=True, backend=backend)
        residual = slicing_kkt_residual(s, beta, xi)
        assert residual["max"] < 1e-9, residual
        assert np.all(s >= 0) and np.all(s.sum(axis=0) <= 1 + 1e-12)
        assert welfare == pytest.approx(slicing_utility(s, beta, xi).sum(), rel=1e-12)
        # the multipliers are the marginal values of the users of each resource
        marginal = beta[:, None] * xi * np.exp(-(xi * s).sum(1))[:, None]
        assert np.allclose(prices, marginal.max(axis=0), rtol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_degenerate_instances(backend: str) -> None:
    beta = np.array([150.0, 150.0, 120.0])
    xi = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 5.0, 0.0]])  # exact ties, zeros
    s, _ = slicing_welfare_optimum(beta, xi, backend=backend)
    assert slicing_kkt_residual(s, beta, xi)["max"] < 1e-9
    xi_zero_column = np.array([[2.0, 0.0, 1.0], [3.0, 0.0, 4.0]])
    s, _, prices = slicing_welfare_optimum(beta[:2], xi_zero_column, backend=backend,
                                           return_prices=True)
    assert np.all(s[:, 1] == 0) and slicing_kkt_residual(s, beta[:2], xi_zero_column)["max"] < 1e-9
    assert prices[1] == 0 and np.all(prices[[0, 2]] > 0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad, argument", [
    ((np.array([1.0, -1.0]), np.ones((2, 3))), "beta"),
    ((np.array([1.0, 2.0]), np.ones((3, 3))), "xi"),
    ((np.array([1.0, 2.0]), -np.ones((2, 3))), "xi"),
    ((np.array([np.nan, 2.0]), np.ones((2, 3))), "beta"),
    ((np.array([1.0, 2.0]), np.array([[1.0, np.inf, 1.0], [1.0, 1.0, 1.0]])), "xi"),
    ((np.array([]), np.ones((0, 3))), "beta"),
    ((150.0, np.ones((1, 3))), "beta"),
])
def test_bad_input_raises_naming_the_argument(bad, argument: str, backend: str) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        slicing_welfare_optimum(*bad, backend=backend)


def test_backend_argument() -> None:
    beta, xi = _instance(np.random.default_rng(0), 4)
    with pytest.raises(InvalidArgumentError, match="backend"):
        slicing_welfare_optimum(beta, xi, backend="cuda")
    with pytest.raises(InvalidArgumentError, match="warm_start"):
        slicing_welfare_optimum(beta, xi, warm_start=np.ones((3, 3)))
    if compiled_kernel() is None:
        with pytest.raises(InvalidArgumentError, match="numba"):
            slicing_welfare_optimum(beta, xi, backend="numba")


@needs_numba
@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 30), k_count=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
       zeros=st.floats(0.0, 0.6), spread=st.floats(0.0, 3.0))
def test_compiled_and_numpy_backends_agree(n: int, k_count: int, seed: int, zeros: float,
                                           spread: float) -> None:
    """Any K, zero efficiencies (whole unusable columns too), beta over several orders of
    magnitude: both implementations reach the optimum; the welfare is unique, so they agree."""
    rng = np.random.default_rng(seed)
    beta = 10.0 ** rng.uniform(1.0, 1.0 + spread, n)
    xi = rng.uniform(0, 10, (n, k_count)) * (rng.random((n, k_count)) >= zeros)
    if not xi.any():
        xi[0, 0] = 1.0
    s_numba, w_numba, p_numba = slicing_welfare_optimum(beta, xi, backend="numba", return_prices=True)
    s_numpy, w_numpy, p_numpy = slicing_welfare_optimum(beta, xi, backend="numpy", return_prices=True)
    assert slicing_kkt_residual(s_numba, beta, xi)["max"] < 1e-9
    assert slicing_kkt_residual(s_numpy, beta, xi)["max"] < 1e-9
    assert w_numba == pytest.approx(w_numpy, rel=1e-12)
    assert np.allclose(p_numba, p_numpy, rtol=1e-9)
    # warm-started from the other backend's answer, each stays there
    _, w_warm = slicing_welfare_optimum(beta, xi, backend="numba", warm_start=s_numpy)
    assert w_warm == pytest.approx(w_numpy, rel=1e-12)


@pytest.mark.parametrize("n", [10, 30, 50])
def test_agrees_with_cvxpy(n: int) -> None:
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(100 + n)
    for _ in range(3):
        beta, xi = _instance(rng, n)
        _s, welfare = slicing_welfare_optimum(beta, xi)
        var = cp.Variable((n, 3), nonneg=True)
        z = cp.sum(cp.multiply(xi, var), axis=1)
        problem = cp.Problem(cp.Maximize(cp.sum(cp.multiply(beta, 1 - cp.exp(-z)))),
                             [cp.sum(var, axis=0) <= 1])
        problem.solve(solver="CLARABEL")
        assert abs(problem.value - welfare) / welfare < 1e-6
        # ours is at least as good (it is exact; the interior-point value is within its tolerance)
        assert welfare >= problem.value - 1e-6 * welfare


@pytest.mark.parametrize("backend", BACKENDS)
def test_warm_start_and_welfare_without(backend: str) -> None:
    rng = np.random.default_rng(5)
    beta, xi = _instance(rng, 12)
    s, welfare = slicing_welfare_optimum(beta, xi, backend=backend)
    _s2, welfare2 = slicing_welfare_optimum(beta, xi, warm_start=s, backend=backend)
    assert welfare2 == pytest.approx(welfare, rel=1e-13)
    without = slicing_welfare_without(beta, xi, s)
    for i in (0, 7):
        keep = np.arange(12) != i
        assert without[i] == pytest.approx(slicing_welfare_optimum(beta[keep], xi[keep])[1],
                                           rel=1e-12)


def test_vcg_payments_and_truthful_bids() -> None:
    rng = np.random.default_rng(6)
    beta, xi = _instance(rng, 8)
    s, welfare = slicing_welfare_optimum(beta, xi)
    pay = vcg_payments(beta, xi, s)
    bids = truthful_bids(beta, xi, s)
    assert np.all(pay >= -1e-9)                      # Clarke pivots are non-negative
    assert np.all(bids - pay >= -1e-9)               # individually rational
    assert bids.sum() == pytest.approx(welfare)
    # VCG with full information is DSIC: scaling one's reported beta never helps
    i = 3
    truthful_utility = bids[i] - pay[i]
    for factor in (0.5, 0.8, 1.2, 2.0):
        reported = beta.copy()
        reported[i] *= factor
        s_r, _ = slicing_welfare_optimum(reported, xi)
        others = slicing_utility(s_r, reported, xi).sum() - slicing_utility(s_r, reported, xi)[i]
        pay_i = slicing_welfare_without(reported, xi, s_r)[i] - others
        true_u = slicing_utility(s_r, beta, xi)[i]
        assert true_u - pay_i <= truthful_utility + 1e-7


@pytest.mark.parametrize("n,m", [(3, 3), (5, 4)])
def test_qvcg_dp_matches_milp(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 10 + m)
    beta, xi = _instance(rng, n)
    tables = qvcg_tables(beta, xi, m)
    units_dp, value_dp, without = qvcg_allocation_dp(tables, m)
    _units_milp, value_milp = qvcg_allocation_milp(tables, m)
    assert value_dp == pytest.approx(value_milp, rel=1e-9)
    assert np.all(units_dp.sum(axis=0) <= m)
    grid_value = tables[np.arange(n), np.ravel_multi_index(tuple(units_dp.T), (m + 1,) * 3)].sum()
    assert grid_value == pytest.approx(value_dp, rel=1e-12)
    for i in range(n):
        keep = np.arange(n) != i
        assert without[i] == pytest.approx(qvcg_allocation_milp(tables[keep], m)[1], rel=1e-9)
    # the quantized optimum never beats the continuous one
    assert value_dp <= slicing_welfare_optimum(beta, xi)[1] + 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
def test_regression_instance_with_slow_water_filling(backend: str) -> None:
    """Found by the conformance suite: water-filling stalls near a cyclic support; the randomized
    forest pruning recovers the exact optimum."""
    data = np.array([[211.8620368157365, 6.899955854298013, 0.8535670862705103, 0.05420321149000484], [163.5235716921919, 9.309050795691977, 3.539313107514621, 7.949522658412059], [225.17633783330308, 4.25781091223247, 0.927257223035044, 4.745148100269008], [117.16588442266534, 4.008124727878963, 2.585707904860631, 3.3600630681430363], [139.42000980389548, 9.61693328772338, 8.291793298250628, 7.0590664326265635], [104.05528652484189, 2.4405018261243416, 7.498864792526877, 6.978732912653324], [255.9679318427373, 5.27966184804828, 2.3888653693452255, 2.0782869156741457], [312.7484093903268, 4.194786002997613, 2.765188321862304, 8.847831239832049], [322.20069275407224, 4.657860025811803, 6.776968227555669, 8.971025613291312]])  # noqa: E501
    beta, xi = data[:, 0], data[:, 1:]
    s, _ = slicing_welfare_optimum(beta, xi, backend=backend)
    assert slicing_kkt_residual(s, beta, xi)["max"] < 1e-9


@needs_numba
def test_compiled_qvcg_stage_matches_numpy_bit_for_bit(monkeypatch) -> None:
    from auction_envs.oracles import _slicing_kernel

    rng = np.random.default_rng(5)
    beta, xi = _instance(rng, 4)
    tables = qvcg_tables(beta, xi, 6)
    tables[1, :50] = tables[2, :50]  # ties between VSPs
    compiled = qvcg_allocation_dp(tables, 6)
    monkeypatch.setattr(_slicing_kernel, "_compiled_stage", [None])
    plain = qvcg_allocation_dp(tables, 6)
    assert np.array_equal(compiled[0], plain[0]) and compiled[1] == plain[1]
    assert np.array_equal(compiled[2], plain[2])
