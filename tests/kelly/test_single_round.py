"""The dict env's single-game round (``KellyCore.step_single``) is ``kelly_round`` bit for bit,
with numba (two compiled loops around numpy's log) and without (the batched numpy round)."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest

import auction_envs
from auction_envs.envs.kelly import KellyCore
from auction_envs.envs.kelly import core as kelly_core
from auction_envs.envs.kelly.core import FEEDBACK_ROWS, PAIRWISE_BLOCK
from auction_envs.testing import golden

GOLDEN = Path(__file__).parents[1] / "golden" / "data"
KELLY_IDS = ["auction_envs/KellyGame-v0", "auction_envs/KellyGameHeterogeneous-v0",
             "auction_envs/KellyGameAlphaFair-v0"]
needs_numba = pytest.mark.skipif(kelly_core._compiled_round_loops() is None,
                                 reason="numba is not installed")


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch):
    """Both paths of ``step_single``: the compiled loops (where numba is installed) and numpy."""
    if request.param == "compiled":
        if kelly_core._compiled_round_loops() is None:
            pytest.skip("numba is not installed")
    else:
        monkeypatch.setattr(kelly_core, "_compiled_round_loops", lambda: None)
    return request.param


def random_core(rng, n, alpha=1.0, eps=1.0):
    a = rng.uniform(1.0, 200.0, n) * rng.choice([1e-6, 1.0, 1e6], n)
    c = eps + rng.uniform(0.0, 500.0, n) * rng.choice([0.0, 1e-6, 1.0, 1e6], n)
    return KellyCore(a, c, eps, rng.choice([1e-3, 0.1, 10.0]), alpha)


# every branch of numpy's summation order: sequential below 8, the accumulators, a remainder
@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 10, 15, 16, 17, 63, PAIRWISE_BLOCK,
                               PAIRWISE_BLOCK + 1])
def test_single_round_and_state_equal_the_batched_round_bit_for_bit(path, n):
    rng = np.random.default_rng(n)
    core = random_core(rng, n)
    reference = KellyCore(core.valuations, core.budgets, core.eps, core.delta)
    for _ in range(5):
        bids = core.eps + rng.uniform(0.0, 1.0, n) * (core.budgets - core.eps)
        bids[rng.integers(n)] = core.eps  # the documented bounds are played too
        rows = core.step_single(bids.copy()).copy()
        feedback = reference.step(bids.reshape(1, -1))
        for row, key in zip(rows, FEEDBACK_ROWS):
            assert row.tobytes() == feedback[key][0].tobytes(), key
        for name in ("bids", "payoff_sum", "normalized_payoff_sum"):
            assert getattr(core, name).tobytes() == getattr(reference, name).tobytes(), name
        assert core.rounds == reference.rounds
    assert core.metrics().keys() == reference.metrics().keys()


def test_single_round_writes_the_chosen_rows_into_observation_columns(path):
    rng = np.random.default_rng(5)
    core = random_core(rng, 6)
    bids = core.eps + rng.uniform(0.0, 1.0, 6) * (core.budgets - core.eps)
    observation = np.full((6, 7), -1.0, dtype=np.float32)
    columns = np.array([6, 0, 3, 2])  # rows bid, others_bid, allocation, payoff, anywhere
    rows = core.step_single(bids, observation, columns)
    expected = np.full((6, 7), -1.0, dtype=np.float32)
    for row, column in enumerate(columns):
        expected[:, column] = rows[row].astype(np.float32)
    assert observation.tobytes() == expected.tobytes()


def test_single_round_with_one_possible_payoff_normalizes_to_one(path):
    core = KellyCore(np.full(3, 5.0), np.full(3, 2.0), 2.0, 0.1)  # eps = c: one payoff
    core.step_single(np.full(3, 2.0))
    assert core.normalized_payoff_sum.tolist() == [[1.0, 1.0, 1.0]]


def test_single_round_takes_the_batched_round_for_other_alphas(path):
    rng = np.random.default_rng(3)
    core, reference = random_core(rng, 4, alpha=2.0), None
    reference = KellyCore(core.valuations, core.budgets, core.eps, core.delta, 2.0)
    bids = core.budgets.copy()
    rows = core.step_single(bids)
    feedback = reference.step(bids.reshape(1, -1))
    np.testing.assert_array_equal(rows, np.concatenate([feedback[k] for k in FEEDBACK_ROWS]))


@pytest.mark.parametrize("env_id", KELLY_IDS)
def test_golden_trajectories_on_both_paths(path, env_id):
    expected, actions = golden.load(GOLDEN, env_id)
    actual, _ = golden.record(env_id, steps=expected["steps"], seed=expected["seed"],
                              actions=actions, **expected["kwargs"])
    assert golden.compare(expected, actual) == []


@needs_numba
@pytest.mark.parametrize("env_id", KELLY_IDS[:2])
def test_compiled_and_numpy_trajectories_have_the_same_digests(env_id, monkeypatch):
    compiled, actions = golden.record(env_id, steps=60, seed=3)
    monkeypatch.setattr(kelly_core, "_compiled_round_loops", lambda: None)
    plain, _ = golden.record(env_id, steps=60, seed=3, actions=actions)
    assert compiled["step_digests"] == plain["step_digests"]
    assert compiled["metrics_digest"] == plain["metrics_digest"]


def test_copied_and_pickled_envs_continue_exactly_as_the_original(path):
    env = auction_envs.make("auction_envs/KellyGameHeterogeneous-v0", n_agents=4)
    env.reset(seed=0)
    joints = [{agent: np.array([5.0 + 3 * i + t]) for i, agent in enumerate(env.possible_agents)}
              for t in range(4)]  # the round depends on the bids only: they change every step
    env.step(joints[0])
    clones = [copy.deepcopy(env), pickle.loads(pickle.dumps(env))]

    def play(market):
        return [golden.digest(market.step(joint)) for joint in joints[1:]] + \
            [golden.digest(market.metrics())]

    expected = play(env)
    for clone in clones:
        assert play(clone) == expected
