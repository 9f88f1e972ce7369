"""The IoV v1 fixes (issue 15, item 1): each test fails on v0."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs
from auction_envs.core.errors import InvalidArgumentError, ResetNeededError
from auction_envs.envs.iov.core import NO_CHANGE, SLICE_LEVELS
from auction_envs.mechanisms.vcg import dvcg_delta
from auction_envs.oracles.slicing import slicing_utility, slicing_welfare_optimum

LEARNED = "auction_envs/IoVSlicingLearned-v1"


def _bids(env, bids):
    return {a: np.array([bids[i]], dtype=np.float32) for i, a in enumerate(env.unwrapped.vsps)}


def _no_change(env):
    return {a: np.full(3, NO_CHANGE) for a in env.unwrapped.slicers}


def test_relative_delta_is_a_share_and_literal_keeps_eq16() -> None:
    bids = np.array([[60.0, 50.0]])
    assert dvcg_delta(bids, np.array([100.0]), "literal")[0] == pytest.approx(5.0)
    assert dvcg_delta(bids, np.array([100.0]), "relative")[0] == pytest.approx(10 / (2 * 110))
    assert dvcg_delta(bids, np.array([110.0]), "relative")[0] == 0.0
    # at most the uniform share 1/N, however large the over-bid
    assert dvcg_delta(np.array([[1e9, 1e9]]), np.array([1.0]), "relative")[0] <= 0.5


def test_truthful_dvcg_is_unperturbed_under_both_scales() -> None:
    for scale in ("relative", "literal"):
        env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=6, perturbation_scale=scale)
        env.reset(seed=3)
        base = env.unwrapped
        s, _ = slicing_welfare_optimum(base.beta, base.xi)
        x = base.x_truthful * (1 - 1e-6)  # float32 rounding cannot push the total above SW*
        _, _, _, _, infos = env.step(_bids(env, x))
        assert base.metrics()["delta"] == 0.0
        assert np.array_equal(np.stack([infos[a]["allocation"] for a in base.vsps]), s)


def test_relative_scale_leaves_a_near_optimal_learned_allocation_near_optimal() -> None:
    """v0 (literal): any sub-optimal allocation is scrambled; relative: it barely moves."""
    efficiencies = {}
    for scale in ("relative", "literal"):
        env = auction_envs.make(LEARNED, n_vsps=10, perturbation_scale=scale,
                                perturbation_reference="allocation")
        env.reset(seed=0)
        base = env.unwrapped
        base.core.slices[0] = 0.9 * base.s_true + 0.1 / 10  # welfare a few % below the optimum
        actions = {**_bids(env, base.x_truthful), **_no_change(env)}
        env.step(actions)
        efficiencies[scale] = base.metrics()["efficiency"]
    assert efficiencies["relative"] > 0.95
    assert efficiencies["literal"] < 0.9


def test_noise_is_drawn_every_round_common_random_numbers() -> None:
    """Two runs that differ only in bids below SW* (Delta = 0 in both) consume the generator
    alike, so a later over-bid round sees the same noise in both (v0: drawn only if Delta > 0)."""
    outcomes = []
    for first in (1.0, 1.0 + 1e-7):  # the second over-bids by float32 round-off
        env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=5)
        env.reset(seed=0)
        base = env.unwrapped
        x = base.x_truthful.astype(np.float64)
        env.step({a: np.array([x[i] * first]) for i, a in enumerate(base.vsps)})
        env.step(_bids(env, 1.5 * x))
        outcomes.append(base.core.last_clearing.allocation.copy())
    assert np.allclose(outcomes[0], outcomes[1], atol=1e-6)


def test_instance_seed_fixes_the_market_across_episodes() -> None:
    env = auction_envs.make("auction_envs/IoVSlicing-v1", instance_seed=7)
    env.reset(seed=0)
    first = (env.unwrapped.beta.copy(), env.unwrapped.xi.copy(), env.unwrapped.alpha.copy())
    env.reset(seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, (env.unwrapped.beta,
                                                            env.unwrapped.xi,
                                                            env.unwrapped.alpha)))
    other = auction_envs.make("auction_envs/IoVSlicing-v1")
    other.reset(seed=0)
    other_beta = other.unwrapped.beta.copy()
    other.reset(seed=1)
    assert not np.array_equal(other_beta, other.unwrapped.beta)


def test_slicer_observation_carries_the_others_mean_action_and_own_vsp() -> None:
    env = auction_envs.make(LEARNED, n_vsps=4)
    env.reset(seed=0)
    base = env.unwrapped
    layout = base.layout_of("slicer_0")
    actions = {**_bids(env, base.x_truthful * [1.0, 0.5, 0.8, 0.9]),
               "slicer_0": np.array([0, 3, 6]), "slicer_1": np.array([0, 3, 3]),
               "slicer_2": np.array([6, 3, 3]), "slicer_3": np.array([6, 3, 3])}
    obs, *_ = env.step(actions)
    mean = layout.get(obs["slicer_0"], "others_mean_action").reshape(3, len(SLICE_LEVELS))
    assert np.allclose(mean[0], np.eye(7)[[0, 6, 6]].mean(axis=0), atol=1e-6)
    assert np.allclose(mean[2], np.eye(7)[3], atol=1e-6)
    bids = [layout.get(obs[f"slicer_{i}"], "vsp_bid") for i in range(4)]
    assert np.allclose(bids, np.float32(base.x_truthful * [1.0, 0.5, 0.8, 0.9]), rtol=1e-5)
    ids = [layout.get(obs[f"slicer_{i}"], "vsp_id") for i in range(4)]
    assert len(set(np.round(ids, 6))) == 4
    assert base.layout_of("vsp_0") is base.layouts["vsp"]


def test_a_common_change_is_not_cancelled_under_capped_actions() -> None:
    for semantics, moved in (("capped", True), ("renormalize", False)):
        env = auction_envs.make(LEARNED, n_vsps=5, slicer_action=semantics)
        env.reset(seed=0)
        base = env.unwrapped
        before = base.slices.copy()
        common = {a: np.array([2, 3, 3]) for a in base.slicers}  # everyone -0.1 on bandwidth
        env.step({**_bids(env, 0.5 * base.x_truthful), **common})  # under-bid: Delta = 0
        assert (not np.allclose(base.slices, before)) == moved


def test_welfare_is_the_default_slicer_reward_and_bids_reward_is_flat() -> None:
    env = auction_envs.make(LEARNED, n_vsps=5)
    env.reset(seed=0)
    base = env.unwrapped
    rewards = {"welfare": [], "bids": []}
    bids_env = auction_envs.make(LEARNED, n_vsps=5, slicer_reward="bids")
    bids_env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        levels = {a: rng.integers(0, 7, 3) for a in base.slicers}
        _, r, _, _, infos = env.step({**_bids(env, base.x_truthful), **levels})
        rewards["welfare"].append(r["slicer_0"])
        assert r["slicer_0"] == pytest.approx(infos["slicer_0"]["welfare"])
        _, r, *_ = bids_env.step({**_bids(bids_env, bids_env.unwrapped.x_truthful), **levels})
        rewards["bids"].append(r["slicer_0"])
    assert np.std(rewards["welfare"]) > 0 and np.std(rewards["bids"]) == 0


@pytest.mark.parametrize("kwargs", [{"xi_range": (0, 0)}, {"M": 101}, {"instance_seed": -1},
                                    {"instance_seed": 1.5}, {"perturbation_scale": "x"},
                                    {"slicer_action": "x"}, {"perturbation_reference": "x"},
                                    {"beta_range": (0, 10)}, {"alpha_range": (0, 1)},
                                    {"n_vsps": True}])
def test_degenerate_arguments_are_rejected(kwargs) -> None:
    with pytest.raises(InvalidArgumentError):
        auction_envs.make("auction_envs/IoVSlicing-v1", **kwargs)


def test_nothing_is_solved_before_reset() -> None:
    env = auction_envs.make("auction_envs/IoVSlicing-v1")
    with pytest.raises(ResetNeededError):
        env.unwrapped.metrics()
    with pytest.raises(ResetNeededError):
        env.unwrapped.state()


def test_vcg_with_a_vsp_left_out_of_the_optimum_stays_finite() -> None:
    env = auction_envs.make("auction_envs/IoVSlicingVCG-v1", n_vsps=3,
                            xi_range=(0.0, 10.0))
    env.reset(seed=0)
    base = env.unwrapped
    base.core.x_truthful[0, 2] = 0.0  # as for a VSP the optimum leaves out
    _, rewards, _, _, _ = env.step(_bids(env, [base.x_truthful[0], base.x_truthful[1], 5.0]))
    assert all(np.isfinite(list(rewards.values())))
    assert np.all(np.isfinite(base.metrics()["bid_deviation"]))


def test_common_scaling_below_truthful_earns_the_truthful_profits() -> None:
    """The docstring's corrected claim: truthful is not dominant, c x* (c <= 1) ties with it."""
    env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=5)
    env.reset(seed=1)
    base = env.unwrapped
    truthful = base.expected_profits(base.x_truthful)
    assert np.allclose(base.expected_profits(0.6 * base.x_truthful), truthful)
    utility = slicing_utility(base.s_true, base.beta, base.xi)
    assert np.allclose(utility, base.x_truthful)
