"""Hand-computed checks of the double-auction mechanisms (paper 004, eqs. 1-3 and 11-14)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction_envs.mechanisms import double_auction
from auction_envs.mechanisms.double_auction import (
    bundle_cost,
    cdara_payment,
    contest_success,
    earliest_start,
    gsp_payment,
    icaa_demand_factor,
    jain_index,
    offered_prices,
    saw_normalize,
    saw_normalize_list,
    saw_preference,
    select_winner,
    under_quota,
    utilization_term,
)


def test_contest_success_both_forms_by_hand():
    bids = np.array([100.0, 400.0, 100.0])
    waits = np.array([4.0, 4.0, 1.0])
    # strengths bid / w**0.5: 50, 200, 100 (sum 350)
    inclusive = contest_success(bids, waits, 0.5, "inclusive")
    np.testing.assert_allclose(inclusive, [50 / 350, 200 / 350, 100 / 350])
    exclusive = contest_success(bids, waits, 0.5, "exclusive")
    np.testing.assert_allclose(exclusive, [50 / 300, 200 / 150, 100 / 250])
    assert contest_success(np.array([7.0]), np.array([2.0]), 0.5, "exclusive")[0] == 1.0
    assert contest_success(np.array([7.0]), np.array([2.0]), 0.5, "inclusive")[0] == 1.0
    assert contest_success(np.zeros(0), np.zeros(0)).shape == (0,)
    with pytest.raises(ValueError):
        contest_success(bids, waits, 0.5, "other")
    with pytest.raises(ValueError):
        contest_success(np.array([1.0, -1.0]), np.array([1.0, 1.0]))


def test_utilization_term_and_offered_prices_by_hand():
    eta = np.array([0.25, 0.75])  # m = 2: strengths m * eta = 0.5, 1.5
    predicted = np.array([[0.2, 0.4], [0.0, 1.0]])
    gamma = utilization_term(eta, predicted, weight=1.0)
    np.testing.assert_allclose(gamma, [[1.1, 1.6], [1.0, 2.5]])
    np.testing.assert_allclose(utilization_term(eta, predicted, weight=0.0), np.ones((2, 2)))
    base = np.array([[100.0, 10.0], [200.0, 20.0]])  # 2 providers, 2 resources
    act = np.array([[0.5, 0.0], [0.0, 1.0]])
    prices = offered_prices(base, act, gamma)
    assert prices.shape == (2, 2, 2)
    np.testing.assert_allclose(prices[0, 0], [100 * 1.5 * 1.1, 10 * 1.5 * 1.1])
    np.testing.assert_allclose(prices[1, 1], [200 * 2 * 2.5, 20 * 2 * 2.5])
    requests = np.array([[1.0, 2.0], [0.5, 0.0]])
    cost = bundle_cost(requests, prices)
    np.testing.assert_allclose(cost[0, 0], 165 + 2 * 16.5)
    np.testing.assert_allclose(cost[1, 1], 0.5 * 1000)
    np.testing.assert_allclose(bundle_cost(requests, base), [[120, 50], [240, 100]])


def test_saw_normalize_by_hand():
    np.testing.assert_allclose(saw_normalize(np.array([10.0, 20.0, 30.0]), True), [0, 0.5, 1])
    np.testing.assert_allclose(saw_normalize(np.array([10.0, 20.0, 30.0]), False), [1, 0.5, 0])
    np.testing.assert_allclose(saw_normalize(np.array([5.0, 5.0]), False), [1, 1])


def test_saw_preference_by_hand():
    # three providers; quality = (price: lower better, utilization: higher better, wait: lower)
    quality = np.array([[100.0, 0.2, 0.0], [150.0, 0.6, 2.0], [200.0, 0.4, 1.0]])
    v = saw_preference(quality, [False, True, False], bids=400.0)
    # N: price (1, .5, 0); util (0, 1, .5); wait (1, 0, .5) -> means (2/3, 1/2, 1/3) / sqrt(400)
    np.testing.assert_allclose(v, np.array([2 / 3, 0.5, 1 / 3]) / 20)
    batched = saw_preference(np.stack([quality, quality[::-1]]), [False, True, False],
                             np.array([400.0, 100.0]))
    np.testing.assert_allclose(batched[0], v)
    np.testing.assert_allclose(batched[1], np.array([1 / 3, 0.5, 2 / 3]) / 10)


def test_earliest_start_by_hand():
    # one resource, 2 providers, horizon 4
    free = np.array([[[1.0], [3.0], [3.0], [0.0]],
                     [[2.0], [2.0], [2.0], [2.0]]])
    requests = np.array([[2.0], [3.0], [2.0]])
    lengths = np.array([2, 1, 2])
    waits = np.array([2, 0, 0])
    starts = earliest_start(free, requests, lengths, waits)
    # buyer 0 at p0: slots 1-2 fit -> start 1; at p1: start 0
    # buyer 1 at p0: needs 3 now, only 1 free, wait 0 -> -1; p1: 2 < 3 -> -1
    # buyer 2 at p0: wait 0 but slot 0 too small -> -1; p1 -> 0
    np.testing.assert_array_equal(starts, [[1, -1, -1], [0, -1, 0]])
    with pytest.raises(ValueError):
        earliest_start(free, requests, np.array([4, 1, 1]), np.array([1, 0, 0]))


def test_select_winner_and_priority():
    scores = np.array([0.9, 0.5, 0.7, 0.7])
    feasible = np.array([True, True, True, False])
    assert select_winner(scores, feasible) == (0, 2)
    assert select_winner(scores, np.zeros(4, bool)) == (-1, -1)
    assert select_winner(scores, np.array([False, True, False, False])) == (1, -1)
    priority = np.array([False, True, False, True])  # provider 3 infeasible, 1 feasible
    assert select_winner(scores, feasible, priority) == (1, 0)
    # priority providers none feasible: usual winner
    assert select_winner(scores, feasible, np.array([False, False, False, True])) == (0, 2)
    # ties go to the lowest index
    assert select_winner(np.array([1.0, 1.0]), np.array([True, True])) == (0, 1)


def test_gsp_payment_rules():
    offers = np.array([120.0, 150.0, 300.0])
    # runner-up's offer
    assert gsp_payment(offers, 0, 1, bid=400.0, reserve=100.0) == 150.0
    # floored at the winner's reserve
    assert gsp_payment(offers, 1, 0, bid=400.0, reserve=130.0) == 130.0
    # capped at the budget
    assert gsp_payment(offers, 0, 2, bid=250.0, reserve=100.0) == 250.0
    # single feasible provider: own offer, or reserve
    assert gsp_payment(offers, 0, -1, bid=400.0, reserve=100.0, single_feasible="own") == 120.0
    assert gsp_payment(offers, 0, -1, bid=400.0, reserve=100.0,
                       single_feasible="reserve") == 100.0
    assert gsp_payment(offers, -1, -1, bid=400.0, reserve=0.0) == 0.0
    with pytest.raises(ValueError):
        gsp_payment(offers, 0, 1, 400.0, 100.0, single_feasible="nope")


def test_cdara_icaa_and_jain():
    assert cdara_payment(300.0, 100.0) == 200.0
    factor = icaa_demand_factor(np.array([4.0, 0.0]), np.array([[1.0, 5.0], [0.0, 5.0]]),
                                elasticity=1.0)
    # rho = 4 / (2 * 1) = 2 -> 1 + 2/3 ; no free capacity with demand -> 2 ; no demand -> 1
    np.testing.assert_allclose(factor, [[1 + 2 / 3, 1.0], [2.0, 1.0]])
    assert jain_index(np.array([1, 1, 1, 1])) == 1.0
    assert jain_index(np.array([4, 0, 0, 0])) == 0.25
    assert jain_index(np.zeros(3)) == 1.0
    np.testing.assert_allclose(jain_index(np.array([1.0, 3.0])), 16 / 20)


def test_under_quota():
    np.testing.assert_array_equal(under_quota(np.array([0, 3, 5]), 0.5), [True, False, False])
    # W = 30, n = 3, share 1 -> quota 10
    np.testing.assert_array_equal(under_quota(np.array([5, 10, 15]), 1.0), [True, False, False])
    np.testing.assert_array_equal(under_quota(np.array([0, 0]), 0.0, min_wins=0), [False, False])


@contextlib.contextmanager
def _without_numba():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(double_auction, "_compiled_earliest_start_loops", lambda: None)
        yield


#: the numpy path always; the numba loops too where numba is installed
EARLIEST_START_BACKENDS = [_without_numba] + (
    [contextlib.nullcontext] if double_auction._compiled_earliest_start_loops() else [])


def _earliest_start_by_definition(free, request, length, wait):
    """The first start tau <= wait whose `length` slots all have room for `request` (or -1)."""
    for tau in range(wait + 1):
        if all(np.all(free[slot] + 1e-9 >= request) for slot in range(tau, tau + length)):
            return tau
    return -1


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 5), m=st.integers(1, 6),
       horizon=st.integers(2, 10))
def test_earliest_start_agrees_with_its_definition(seed, n, m, horizon):
    rng = np.random.default_rng(seed)
    free = rng.choice([0.0, 0.5, 1.0], size=(n, horizon, 3))
    requests = rng.choice([0.0, 0.5, 1.0], size=(m, 3))
    lengths = rng.integers(1, horizon + 1, size=m)
    waits = np.array([rng.integers(0, horizon - length + 1) for length in lengths])
    expected = [[_earliest_start_by_definition(free[i], requests[j], lengths[j], waits[j])
                 for j in range(m)] for i in range(n)]
    for backend in EARLIEST_START_BACKENDS:
        with backend():
            np.testing.assert_array_equal(earliest_start(free, requests, lengths, waits), expected)
            # the matching's refresh of one provider skips the checks, not the rule
            np.testing.assert_array_equal(
                earliest_start(free[:1], requests, lengths, waits, check=False), expected[:1])


def test_selection_on_plain_lists_matches_arrays():
    """The per-buyer hot path passes plain lists; the answer is the array answer."""
    scores, feasible = [0.9, 0.5, 0.7, 0.7], [True, True, True, False]
    priority = [False, True, False, True]
    assert select_winner(scores, feasible, priority) == select_winner(
        np.array(scores), np.array(feasible), np.array(priority)) == (1, 0)
    np.testing.assert_array_equal(saw_normalize_list([10.0, 20.0, 30.0], False), [1, 0.5, 0])
    assert saw_normalize_list([5.0, 5.0], True) == [1.0, 1.0]
