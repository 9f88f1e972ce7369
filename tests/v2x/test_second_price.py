"""The k-slot second-price auction: hand-computed cases, ties, batches, and the loop reference."""

from __future__ import annotations

import numpy as np
import pytest

from auction_envs.mechanisms.second_price import second_price, second_price_reference

NAN = np.nan


@pytest.mark.parametrize(
    ("bids", "k", "winners", "price"),
    [
        ([5.0, 9.0, 7.0, 1.0], 1, [False, True, False, False], 7.0),  # Vickrey
        ([5.0, 9.0, 7.0, 1.0], 2, [False, True, True, False], 5.0),  # (k+1)-th highest
        ([5.0, 9.0, 7.0, 1.0], 3, [True, True, True, False], 1.0),
        ([5.0, 9.0, 7.0, 1.0], 4, [True, True, True, True], 0.0),  # not contended: free
        ([5.0, 9.0, 7.0, 1.0], 9, [True, True, True, True], 0.0),
        ([5.0, 9.0, 7.0, 1.0], 0, [False, False, False, False], 0.0),
        ([5.0, NAN, 7.0, NAN], 1, [False, False, True, False], 5.0),  # NaN = absent
        ([5.0, NAN, 7.0, NAN], 2, [True, False, True, False], 0.0),  # 2 present, 2 slots
        ([NAN, NAN], 1, [False, False], 0.0),
        ([3.0], 1, [True], 0.0),
        ([-1.0, -2.0], 1, [True, False], -2.0),
    ],
)
def test_hand_computed(bids: list[float], k: int, winners: list[bool], price: float) -> None:
    for rng in (None, np.random.default_rng(0)):
        won, paid = second_price(np.array(bids), k, rng)
        assert won.tolist() == winners
        assert paid.tolist() == [price if w else 0.0 for w in winners]


def test_ties_at_the_margin_are_random_and_uniform() -> None:
    # two slots, bids 9, 5, 5, 5: the 9 always wins, one of the three 5s wins, price 5
    rng = np.random.default_rng(1)
    wins = np.zeros(4)
    for _ in range(6000):
        won, paid = second_price(np.array([5.0, 9.0, 5.0, 5.0]), 2, rng)
        assert won[1] and won.sum() == 2
        assert set(paid[won].tolist()) == {5.0}
        wins += won
    assert wins[1] == 6000
    share = wins[[0, 2, 3]] / 6000
    assert np.allclose(share, 1 / 3, atol=0.03), share


def test_ties_without_rng_go_to_the_lowest_index() -> None:
    won, paid = second_price(np.array([4.0, 4.0, 4.0]), 2, None)
    assert won.tolist() == [True, True, False] and paid.tolist() == [4.0, 4.0, 0.0]


def test_all_equal_bids_pay_the_common_bid_when_contended() -> None:
    won, paid = second_price(np.full(5, 750.0), 3, np.random.default_rng(0))
    assert won.sum() == 3 and np.all(paid[won] == 750.0) and np.all(paid[~won] == 0.0)


def test_batch_rows_are_independent_auctions() -> None:
    rng = np.random.default_rng(2)
    bids = rng.integers(0, 5, size=(3, 4, 6)).astype(float)
    bids[rng.random(bids.shape) < 0.2] = NAN
    slots = rng.integers(0, 7, size=(3, 4))
    won, paid = second_price(bids, slots, None)
    for i in range(3):
        for j in range(4):
            w, p = second_price(bids[i, j], int(slots[i, j]), None)
            assert (won[i, j] == w).all() and (paid[i, j] == p).all()
    # scalar n_slots broadcasts
    won, _ = second_price(np.ones((2, 3)), 1, None)
    assert won.sum(axis=1).tolist() == [1, 1]


def test_matches_the_loop_reference_with_the_same_generator() -> None:
    rng = np.random.default_rng(3)
    for _ in range(500):
        n = int(rng.integers(0, 9))
        bids = rng.integers(0, 4, size=n).astype(float)
        bids[rng.random(n) < 0.25] = NAN
        k = int(rng.integers(0, 6))
        seed = int(rng.integers(2**31))
        for seeded in (True, False):
            w1, p1 = second_price(bids, k, np.random.default_rng(seed) if seeded else None)
            w2, p2 = second_price_reference(bids, k, np.random.default_rng(seed) if seeded else None)
            assert (w1 == w2).all() and (p1 == p2).all(), (bids, k)


def test_winners_are_the_k_highest_and_pay_at_most_their_bid() -> None:
    rng = np.random.default_rng(4)
    for _ in range(200):
        bids = rng.random(int(rng.integers(1, 12)))
        k = int(rng.integers(0, 12))
        won, paid = second_price(bids, k, rng)
        assert won.sum() == min(k, bids.size)
        if won.any() and (~won).any():
            assert bids[won].min() >= bids[~won].max()
        assert np.all(paid[won] <= bids[won])


@pytest.mark.parametrize(
    ("bids", "k"),
    [(np.float64(3.0), 1), (np.array([1.0, np.inf]), 1), (np.array([1.0, 2.0]), -1),
     (np.array([1.0, 2.0]), 1.5), (np.ones((2, 3)), np.array([1, 2, 3]))],
)
def test_bad_input_raises(bids: np.ndarray, k: object) -> None:
    with pytest.raises(ValueError):
        second_price(bids, k)  # type: ignore[arg-type]
