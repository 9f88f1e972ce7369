"""The IoV slicing env: the DVCG round by hand, variants, arguments, metrics, benchmarks."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs
from auction_envs.core.errors import InvalidArgumentError
from auction_envs.oracles.slicing import slicing_utility, slicing_welfare_optimum


def _truthful_step(env):
    x = env.unwrapped.x_truthful
    return env.step({a: np.array([x[i]], dtype=np.float32)
                     for i, a in enumerate(env.unwrapped.vsps)})


def test_truthful_round_matches_the_formulas() -> None:
    env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=6)
    env.reset(seed=3)
    base = env.unwrapped
    bids = base.x_truthful.astype(np.float32).astype(np.float64)
    bids[2] *= 0.8  # under-bid: no perturbation, only interest
    _, _rewards, _, _, infos = env.step({a: np.array([bids[i]], dtype=np.float32)
                                        for i, a in enumerate(base.vsps)})
    s, sw = slicing_welfare_optimum(base.beta, base.xi)
    u = slicing_utility(s, base.beta, base.xi)
    pool = u.sum()  # prior VoI = utilities at the optimum
    loans = pool * bids / bids.sum()
    for i, a in enumerate(base.vsps):
        keep = np.arange(6) != i
        sw_minus = slicing_welfare_optimum(base.beta[keep], base.xi[keep])[1]
        externality = sw_minus - (sw - u[i])
        tax = 1.0 * (externality + abs(loans[i] - u[i]))  # alpha-hat prior 1
        assert infos[a]["loan"] == pytest.approx(loans[i], rel=1e-6)
        assert infos[a]["tax"] == pytest.approx(tax, rel=1e-6, abs=1e-6)
        assert np.allclose(infos[a]["allocation"], s[i])
    assert base.metrics()["delta"] == 0.0


def test_overbid_perturbs_and_bank_learns_alpha() -> None:
    env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=5, max_cycles=300)
    env.reset(seed=0)
    base = env.unwrapped
    for _ in range(300):
        _truthful_step(env)
    assert np.allclose(base.bank.alpha_hat, base.alpha, rtol=0.02)
    assert base.metrics()["mean_efficiency"] == pytest.approx(1.0, abs=1e-6)  # float32 bids
    env.reset(seed=0)
    x = base.x_truthful.copy()
    x[0] *= 1.5
    env.step({a: np.array([x[i]], dtype=np.float32) for i, a in enumerate(base.vsps)})
    assert base.metrics()["delta"] > 0 and base.metrics()["efficiency"] < 1.0


def test_dvcg_unilateral_deviation_never_pays() -> None:
    env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=5)
    env.reset(seed=1)
    for _ in range(10):
        _truthful_step(env)
    base = env.unwrapped
    truthful = base.expected_profits(base.x_truthful)
    for i in range(5):
        for f in (0.5, 0.7, 0.9, 1.1, 1.3, 1.5):
            bids = base.x_truthful.copy()
            bids[i] *= f
            assert base.expected_profits(bids)[i] < truthful[i]


def test_colluders_share_reward_and_learned_variant() -> None:
    env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=4, colluders={0, 2})
    env.reset(seed=0)
    _, rewards, _, _, infos = _truthful_step(env)
    assert rewards["vsp_0"] == rewards["vsp_2"] == pytest.approx(
        infos["vsp_0"]["profit"] + infos["vsp_2"]["profit"])
    env = auction_envs.make("auction_envs/IoVSlicingLearned-v1", slicer_reward="welfare")
    _obs, _ = env.reset(seed=0)
    assert set(env.agents) == {f"vsp_{i}" for i in range(10)} | {f"slicer_{i}" for i in range(10)}
    actions = {a: env.action_space(a).sample() for a in env.agents}
    _, rewards, _, _, infos = env.step(actions)
    assert rewards["slicer_0"] == pytest.approx(infos["slicer_0"]["welfare"])
    assert np.all(env.unwrapped.slices.sum(axis=0) <= 1 + 1e-9)


@pytest.mark.parametrize("kwargs", [{"n_vsps": 0}, {"mechanism": "x"}, {"tax": "y"},
                                    {"colluders": {12}}, {"M": 0}, {"noise_std": -1},
                                    {"mechanism": "vcg", "allocator": "learned"}])
def test_bad_arguments(kwargs) -> None:
    with pytest.raises(InvalidArgumentError):
        auction_envs.make("auction_envs/IoVSlicing-v1", **kwargs)


def test_quick_run_and_information() -> None:
    from benchmarks.iov_information import run as table2
    from benchmarks.quick_iov import quick_run

    rows = quick_run(seed=0)
    for row in rows:
        if row["metric"] == "mean efficiency":
            assert row["value"] == pytest.approx(1.0, abs=1e-6)
    table = table2()
    for name, paper in table["paper_x1e6"].items():
        assert np.allclose(table["ours_x1e6"][name], paper)
