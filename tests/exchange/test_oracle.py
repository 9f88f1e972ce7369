"""The exchange-economy oracle: exact demand, CE with independent verification, losses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import optimize

from auction_envs.oracles.exchange import (
    ce_loss,
    competitive_equilibrium,
    demand,
    fair_division_loss,
    make_family,
    pareto_loss,
    prd_convergence,
    proportional_response_dynamics,
    sharing_incentive_loss,
    verify_competitive_equilibrium,
)

FAMILIES = st.one_of(
    st.tuples(st.just("ces"), st.builds(lambda r: {"rho": r}, st.floats(0.05, 0.99))),
    st.tuples(st.just("linear"), st.just({})),
    st.tuples(st.just("amdahl"), st.builds(lambda f: {"F": f}, st.floats(0.05, 0.95))),
)


def _instance(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.05, 1.0, (n, m))
    endowments = rng.dirichlet(np.ones(n), size=m).T
    return theta, endowments


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=FAMILIES, seed=st.integers(0, 2**31), n=st.integers(2, 8), m=st.integers(2, 4))
def test_ce_passes_independent_verification(family, seed, n, m):
    name, params = family
    theta, e = _instance(seed, n, m)
    x, p = competitive_equilibrium(theta, e, name, **params)
    check = verify_competitive_equilibrium(x, p, theta, e, name, tol=1e-6, **params)
    assert check.ok, check
    assert ce_loss(x, p, theta, e, name, **params) <= 1e-6 * n
    assert sharing_incentive_loss(x, theta, e, name, **params) <= 1e-6 * n  # CE => SI


@pytest.mark.parametrize("rho", [0.984375, 0.99, 0.999])
def test_ce_near_linear_ces_falls_back_instead_of_raising(rho):
    # found by hypothesis: the compiled Newton divided by zero at rho = 0.984375 (n = m = 2)
    theta, e = _instance(0, 2, 2)
    x, p = competitive_equilibrium(theta, e, "ces", rho=rho)
    assert verify_competitive_equilibrium(x, p, theta, e, "ces", tol=1e-6, rho=rho).ok


def test_ce_with_per_agent_amdahl_fractions():
    theta, e = _instance(3, 6, 3)
    F = np.random.default_rng(1).uniform(0.2, 0.9, (6, 3))
    x, p = competitive_equilibrium(theta, e, "amdahl", F=F)
    assert verify_competitive_equilibrium(x, p, theta, e, "amdahl", F=F).ok


def _generic_demand(p, budget, theta, family, cap, **params):
    """An independent check: SLSQP from many starts on the same problem."""
    fam = make_family(family, **params)
    m = len(p)
    best = -np.inf
    rng = np.random.default_rng(0)
    for _ in range(8):
        x0 = rng.dirichlet(np.ones(m)) * budget / p
        x0 = np.minimum(x0, cap)
        res = optimize.minimize(lambda x: -fam.utility(np.maximum(x, 0), theta), x0,
                                bounds=[(0, cap)] * m, method="SLSQP",
                                constraints=[{"type": "ineq", "fun": lambda x: budget - p @ x}],
                                options={"ftol": 1e-13, "maxiter": 500})
        if p @ res.x <= budget + 1e-9:
            best = max(best, fam.utility(np.maximum(res.x, 0), theta))
    return best


@settings(max_examples=60, deadline=None)
@given(family=FAMILIES, seed=st.integers(0, 2**31), m=st.integers(2, 5),
       budget=st.floats(0.01, 2.0), cap=st.sampled_from([1.0, 0.5]))
def test_exact_demand_beats_generic_solver(family, seed, m, budget, cap):
    name, params = family
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(m)) + 1e-3
    theta = rng.uniform(0.05, 1.0, m)
    fam = make_family(name, **params)
    x = demand(p, budget, theta, fam, cap=cap)
    assert np.all(x >= -1e-12) and np.all(x <= cap + 1e-12)
    assert p @ x <= budget * (1 + 1e-9) + 1e-12
    exact = fam.utility(x, theta)
    generic = _generic_demand(p, budget, theta, name, cap, **params)
    assert exact >= generic - 1e-7 * max(1.0, abs(generic))
    # KKT / exhaustion: either the budget is spent or every good is at its cap
    assert np.isclose(p @ x, budget, rtol=1e-9) or np.allclose(x, cap)


def test_demand_closed_form_ces():
    p = np.array([0.2, 0.3, 0.5])
    theta = np.array([1.0, 2.0, 0.5])
    rho = 0.5
    sigma = 1 / (1 - rho)
    x = demand(p, 1.0, theta, "ces", cap=None, rho=rho)
    expected = theta**sigma * p**-sigma / np.sum(theta**sigma * p ** (1 - sigma))
    np.testing.assert_allclose(x, expected, rtol=1e-12)


def test_ce_loss_positive_off_equilibrium_and_zero_at_ce():
    theta, e = _instance(0, 5, 3)
    x, p = competitive_equilibrium(theta, e, "ces", rho=0.5)
    assert ce_loss(x, p, theta, e, "ces", rho=0.5) < 1e-9
    assert ce_loss(e, np.full(3, 1 / 3), theta, e, "ces", rho=0.5) > 1e-3
    per_agent = ce_loss(e, p, theta, e, "ces", rho=0.5, per_agent=True)
    assert per_agent.shape == (5,) and np.all(per_agent >= 0)


def test_pareto_and_fair_division_losses():
    theta, e = _instance(1, 4, 3)
    x, _ = competitive_equilibrium(theta, e, "ces", rho=0.5)
    # a CE is Pareto-efficient (first welfare theorem): the convex bound certifies ~0
    assert pareto_loss(x, theta, "ces", rho=0.5) < 1e-5
    # the endowment is individually rational but generally not efficient
    pe_endowment = pareto_loss(e, theta, "ces", rho=0.5)
    assert pe_endowment > 1e-3
    assert sharing_incentive_loss(e, theta, e, "ces", rho=0.5) == 0.0
    assert fair_division_loss(e, theta, e, "ces", rho=0.5) == pytest.approx(pe_endowment)
    details = pareto_loss(e, theta, "ces", rho=0.5, return_details=True)
    fam = make_family("ces", rho=0.5)
    assert np.all(details.improved_utilities >= fam.utility(e, theta) - 1e-7)
    assert np.all(details.improved_allocation.sum(axis=0) <= 1 + 1e-9)
    # giving everything to one agent is Pareto-efficient but not SI
    one = np.zeros_like(e)
    one[0] = 1.0
    assert pareto_loss(one, theta, "ces", rho=0.5) < 1e-6
    assert sharing_incentive_loss(one, theta, e, "ces", rho=0.5) > 0


def test_prd_converges_and_rate_is_reported():
    theta, e = _instance(2, 5, 3)
    report = prd_convergence(theta, e, "ces", iterations=400, rho=0.5)
    gaps = report["gaps"]
    assert gaps[-1] < 1e-8 and gaps[-1] < gaps[0]
    assert 0 < report["rate"] < 1  # geometric convergence for rho < 1
    prd = proportional_response_dynamics(theta, e, "ces", rho=0.5, tol=1e-12)
    _, p = competitive_equilibrium(theta, e, "ces", rho=0.5)
    np.testing.assert_allclose(prd.prices, p, atol=1e-9)


def test_bad_arguments_fail_clearly():
    theta, e = _instance(0, 3, 2)
    with pytest.raises(ValueError, match="rho"):
        competitive_equilibrium(theta, e, "ces", rho=1.5)
    with pytest.raises(ValueError, match="F"):
        competitive_equilibrium(theta, e, "amdahl", F=1.0)
    with pytest.raises(ValueError, match="family"):
        competitive_equilibrium(theta, e, "leontief")
    with pytest.raises(ValueError, match="endowments"):
        competitive_equilibrium(theta, e * 2, "ces", rho=0.5)
    with pytest.raises(ValueError, match="theta"):
        competitive_equilibrium(-theta, e, "ces", rho=0.5)


def test_prd_is_the_trading_post_with_proportional_response():
    from auction_envs.mechanisms.trading_post import proportional_response_step, trading_post

    for family, params in (("ces", {"rho": 0.5}), ("amdahl", {"F": 0.7})):
        theta, e = _instance(5, 4, 3)
        fam = make_family(family, **params)
        b = e / 3 + 1 / 12
        b = b / b.sum()
        x, p = trading_post(b)
        for _ in range(5):
            b = proportional_response_step(b, theta * fam.phi_elasticity(x), e @ p)
            x, p = trading_post(b)
        prd = proportional_response_dynamics(theta, e, fam, max_iter=5, tol=0.0)
        np.testing.assert_allclose(prd.spending, b, rtol=1e-12)
        np.testing.assert_allclose(prd.prices.sum(), 1.0)


def test_amdahl_prd_rule_theta_s_x_has_non_ce_fixed_points():
    """Why PRD uses ``theta x s'(x)`` for Amdahl (see ``proportional_response_dynamics``): the rule
    ``b_ij ∝ theta_ij s(x_ij)`` written in MARKETS.md stalls at a non-CE when an agent is interior."""
    from auction_envs.mechanisms.trading_post import proportional_response_step, trading_post

    theta, e = _instance(1, 3, 3)
    fam = make_family("amdahl", F=0.5)
    b = e / 3 + 1 / 9
    b = b / b.sum()
    x, p = trading_post(b)
    for _ in range(5000):
        b = proportional_response_step(b, theta * fam.phi(x), e @ p)
        x, p = trading_post(b)
    assert not verify_competitive_equilibrium(x, p, theta, e, fam).ok
    x_ce, p_ce = competitive_equilibrium(theta, e, fam)
    assert np.sum(np.all(x_ce > 1e-9, axis=1)) >= 1  # an interior agent
    assert np.abs(p - p_ce).sum() > 1e-3


def test_prd_batched_over_economies_equals_one_at_a_time():
    from auction_envs.oracles.exchange import market_demand  # noqa: F401  (public)

    for family, params in (("ces", {"rho": 0.5}), ("amdahl", {"F": 0.7})):
        instances = [_instance(k, 4, 3) for k in range(3)]
        theta = np.stack([t for t, _ in instances])
        e = np.stack([e for _, e in instances])
        batched = proportional_response_dynamics(theta, e, family, max_iter=40, tol=0.0, **params)
        assert batched.residuals.shape == (40, 3)
        for k, (t, ek) in enumerate(instances):
            single = proportional_response_dynamics(t, ek, family, max_iter=40, tol=0.0, **params)
            np.testing.assert_allclose(batched.spending[k], single.spending, rtol=1e-13)
            np.testing.assert_allclose(batched.residuals[:, k], single.residuals, rtol=1e-12)


@pytest.mark.parametrize("family, params", [("ces", {"rho": 0.5}), ("ces", {"rho": 0.9}),
                                            ("amdahl", {"F": 0.7}), ("linear", {})])
def test_indirect_utilities_of_capped_agents_are_their_demands_bit_for_bit(family, params):
    """indirect_utilities takes the closed-form demand where it fits the caps and solves the
    other agents' capped demands together (CES: one batched pass); each such agent's value is
    exactly the utility of her own demand()."""
    from auction_envs.oracles.exchange import indirect_utilities, market_demand

    fam = make_family(family, **params)
    rng = np.random.default_rng(3)
    capped_seen = 0
    for _ in range(40):
        n, m = rng.integers(2, 7), rng.integers(1, 9)
        theta = rng.uniform(0.1, 1.0, (n, m))
        endowments = rng.dirichlet(np.ones(n), size=m).T
        prices = np.maximum(rng.dirichlet(np.full(m, 0.3)), 1e-12)  # uneven: cheap goods cap
        prices /= prices.sum()
        budgets = endowments @ prices
        for cap in (1.0, 0.6):
            values = indirect_utilities(prices, endowments, theta, fam, cap=cap)
            bundles = np.array([demand(prices, budgets[i], theta[i], fam, cap=cap, agent=i)
                                for i in range(n)])
            capped = (market_demand(prices, budgets, theta, fam) > cap).any(axis=1)
            capped_seen += int(capped.sum())
            assert values[capped].tobytes() == fam.utility(bundles, theta)[capped].tobytes()
            np.testing.assert_allclose(values, fam.utility(bundles, theta), rtol=1e-9)
    assert capped_seen > 20  # the capped rule ran, not only the closed form


def test_capped_ces_demand_of_few_goods_is_the_numpy_search_bit_for_bit(monkeypatch):
    """For few goods the capped CES demand runs in Python floats with batched numpy exp/log; it
    answers exactly what the numpy row-by-row search (used from 8 goods on) answers."""
    from auction_envs.oracles import exchange

    rng = np.random.default_rng(11)
    cases = []
    for t in range(300):
        m, rows = int(rng.integers(1, exchange.SEQUENTIAL_SUM_BELOW)), int(rng.integers(1, 7))
        prices = rng.dirichlet(np.full(m, 0.3)) + 1e-9
        budgets = rng.uniform(0.0, 1.2, rows) * (1e-6 if t % 5 == 0 else 1.0)
        theta = rng.uniform(0.1, 1.0, (rows, m))
        cases.append((prices, budgets, theta, (1.0, 0.5, 3.0)[t % 3], (0.2, 0.5, 0.95)[t % 3]))
    few_goods = [exchange._ces_demand_rows(*case) for case in cases]
    monkeypatch.setattr(exchange, "SEQUENTIAL_SUM_BELOW", 0)  # every search in numpy, by row
    row_by_row = [exchange._ces_demand_rows(*case) for case in cases]
    capped = sum(int((bundles == case[3]).any(axis=1).sum())
                 for bundles, case in zip(few_goods, cases))
    assert capped > 50  # the search settled on capped goods often
    assert all(a.tobytes() == b.tobytes() for a, b in zip(few_goods, row_by_row))


def test_compiled_passes_of_the_few_goods_demand_are_its_python_loops_bit_for_bit(monkeypatch):
    """The capped CES demand of a few goods with its scalar loops compiled (numba) answers what
    the Python loops answer, bit for bit: zero budgets, budgets that buy the whole supply, caps
    1, below and above 1 and infinite, tied prices and elasticities of both signs."""
    from auction_envs.oracles import exchange

    if exchange._compiled_ces_passes() is None:
        pytest.skip("numba is not installed: only the Python loops exist")
    rng = np.random.default_rng(5)
    cases = []
    for t in range(2000):
        m, rows = int(rng.integers(1, exchange.SEQUENTIAL_SUM_BELOW)), int(rng.integers(1, 6))
        prices = rng.random(m) + (1e-3 if t % 2 else 0.2)
        if t % 5 == 0:
            prices = np.round(prices, 1) + 0.1  # ties in the thresholds' order
        budgets = rng.random(rows) * (0.1, 1.0, 3.0, 10.0)[t % 4]
        budgets[rng.random(rows) < 0.1] = 0.0
        theta = rng.uniform(0.1, 1.0, (rows, m))
        cases.append((prices, budgets, theta, (1.0, 0.5, 2.0, np.inf)[t % 4],
                      (0.5, -1.0, 0.9, -3.0)[(t // 4) % 4]))
    compiled = [exchange._ces_demand_few_goods(*case) for case in cases]
    monkeypatch.setattr(exchange, "_compiled_ces_passes", lambda: None)
    loops = [exchange._ces_demand_few_goods(*case) for case in cases]
    assert sum(int((bundles == case[3]).any(axis=1).sum())
               for bundles, case in zip(compiled, cases)) > 500  # capped goods seen often
    assert all(a.shape == b.shape and a.tobytes() == b.tobytes() for a, b in zip(compiled, loops))
