"""The IoV vector env equals B dict envs stepped with the same seeds and bids, across autoresets;
the batched slicing oracle equals the per-market one bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs
from auction_envs.core import InvalidActionError, InvalidArgumentError
from auction_envs.envs.iov import vector as iov_vector
from auction_envs.oracles import slicing
from auction_envs.oracles.slicing import (
    slicing_optimum_batch,
    slicing_welfare_optimum,
    slicing_welfare_without,
)

INFO_KEYS = (*iov_vector.INFO_KEYS, "allocation")


def _dict_observations(env) -> np.ndarray:
    """The dict env's observations of every VSP, also on the truncating step (where PettingZoo
    returns none because no agent is left): the env's own packing of its current state."""
    base = env.unwrapped
    agents, base.agents = base.agents, list(base.possible_agents)
    try:
        observations = base._observations()
    finally:
        base.agents = agents
    return np.stack([observations[a] for a in base.possible_agents])


def _bids(rng: np.random.Generator, truthful: np.ndarray, low: np.ndarray, high: np.ndarray
          ) -> np.ndarray:
    """Bids around the truthful ones (some rounds over-bid, so DVCG perturbs), a few at the
    documented bounds, as float32 (what a policy sends)."""
    bids = truthful[..., None] * rng.uniform(0.7, 1.3, (*truthful.shape, 1))
    bids[0, 0] = low[0, 0]
    bids[-1, -1] = high[-1, -1]
    return np.clip(bids, low, high).astype(np.float32)


CASES = [
    ("auction_envs/IoVSlicing-v1", {"n_vsps": 4, "max_cycles": 3}),
    ("auction_envs/IoVSlicing-v1", {"n_vsps": 3, "max_cycles": 2, "theta_estimator": "noisy",
                                    "perturbation_scale": "literal"}),
    ("auction_envs/IoVSlicing-v1", {"n_vsps": 5, "max_cycles": 2, "instance_seed": 11}),
    ("auction_envs/IoVSlicingNVI-v1", {"n_vsps": 4, "max_cycles": 3}),
    ("auction_envs/IoVSlicingVCG-v1", {"n_vsps": 4, "max_cycles": 2}),
    ("auction_envs/IoVSlicingQVCG-v1", {"n_vsps": 3, "max_cycles": 2, "M": 3}),
]


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_equals_dict_envs_bit_for_bit_across_autoresets(env_id, kwargs):
    batch = 3
    venv = auction_envs.make_vec(env_id, num_envs=batch, **kwargs)
    envs = [auction_envs.make(env_id, **kwargs) for _ in range(batch)]
    observations, _ = venv.reset(seed=5)
    for b, env in enumerate(envs):
        env.reset(seed=5 + b)
        np.testing.assert_array_equal(observations[b], _dict_observations(env))
    rng = np.random.default_rng(0)
    low = venv.action_space.low.astype(np.float64)
    high = venv.action_space.high.astype(np.float64)
    resets = steps = 0
    for _ in range(3 * kwargs["max_cycles"] + 2):
        actions = _bids(rng, venv.equilibrium()["bids"], low, high)
        observations, rewards, terms, truncs, infos = venv.step(actions)
        for b, env in enumerate(envs):
            if infos["_reset"][b]:  # next-step autoreset: the dict env resets instead
                resets += 1
                env.reset()
                np.testing.assert_array_equal(rewards[b], 0.0)
                assert not truncs[b].any() and not terms[b].any()
            else:
                steps += 1
                joint = {a: actions[b, i] for i, a in enumerate(env.possible_agents)}
                _, dict_rewards, dict_terms, dict_truncs, dict_infos = env.step(joint)
                np.testing.assert_array_equal(rewards[b], list(dict_rewards.values()))
                np.testing.assert_array_equal(truncs[b], list(dict_truncs.values()))
                np.testing.assert_array_equal(terms[b], list(dict_terms.values()))
                for key in INFO_KEYS:
                    np.testing.assert_array_equal(
                        infos[key][b], [dict_infos[a][key] for a in env.possible_agents])
                assert infos["welfare"][b] == env.unwrapped.metrics()["welfare"]
            np.testing.assert_array_equal(observations[b], _dict_observations(env))
    assert resets == 2 * batch and steps == 3 * kwargs["max_cycles"] * batch


def test_colluders_share_their_coalition_reward():
    venv = auction_envs.make_vec("auction_envs/IoVSlicingNVI-v1", num_envs=2, n_vsps=4)
    venv.reset(seed=0)
    _, rewards, _, _, infos = venv.step(venv.equilibrium()["bids"][..., None])
    profit = infos["profit"]
    np.testing.assert_array_equal(rewards[:, 0], profit[:, 0] + profit[:, 1])
    np.testing.assert_array_equal(rewards[:, 1], rewards[:, 0])
    np.testing.assert_array_equal(rewards[:, 2:], profit[:, 2:])


def test_truthful_bids_are_not_perturbed_and_reach_the_optimum():
    venv = auction_envs.make_vec("auction_envs/IoVSlicing-v1", num_envs=4, n_vsps=6)
    venv.reset(seed=3)
    equilibrium = venv.equilibrium()
    venv.step(equilibrium["bids"][..., None])
    metrics = venv.metrics()
    np.testing.assert_allclose(metrics["efficiency"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(metrics["bid_deviation"], 0.0, atol=1e-6)  # float32 bids


def test_learned_allocator_ids_are_refused_clearly():
    with pytest.raises(InvalidArgumentError, match=r"allocator.*MultiDiscrete"):
        auction_envs.make_vec("auction_envs/IoVSlicingLearned-v1", num_envs=2)


def test_invalid_actions_name_env_agent_and_change_nothing():
    venv = auction_envs.make_vec("auction_envs/IoVSlicing-v1", num_envs=2, n_vsps=3)
    observations, _ = venv.reset(seed=0)
    state = [generator.bit_generator.state for generator in venv.generators.generators]
    bad = np.full((2, 3, 1), 50.0)
    bad[1, 2, 0] = 401.0
    with pytest.raises(InvalidActionError, match=r"vsp_2.*env 1"):
        venv.step(bad)
    for weird in (np.full((2, 3, 1), np.nan), np.zeros((2, 2, 1)), "1"):
        with pytest.raises(InvalidActionError):
            venv.step(weird)
    assert (venv.rounds == 0).all() and venv.core.rounds == 0
    assert [generator.bit_generator.state for generator in venv.generators.generators] == state
    np.testing.assert_array_equal(venv._observations(), observations)


def test_seeded_runs_reproduce_bit_for_bit():
    def run() -> tuple[np.ndarray, np.ndarray]:
        venv = auction_envs.make_vec("auction_envs/IoVSlicing-v1", num_envs=3, n_vsps=4,
                                     max_cycles=2)
        venv.reset(seed=[4, 9, 4])
        total = np.zeros((3, 4))
        for _ in range(5):
            observations, rewards, *_ = venv.step(1.1 * venv.equilibrium()["bids"][..., None])
            total += rewards
        return observations, total

    (obs_a, total_a), (obs_b, total_b) = run(), run()
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(total_a, total_b)
    np.testing.assert_array_equal(total_a[0], total_a[2])  # the same seed, the same market


# ----------------------------------------------------------------------------- batched oracle
@pytest.mark.parametrize("n", [1, 2, 7, 12])
def test_batched_optimum_equals_the_per_market_oracle_bit_for_bit(n):
    rng = np.random.default_rng(n)
    batch = 20
    beta = rng.uniform(100.0, 200.0, (batch, n))
    xi = rng.uniform(0.0, 10.0, (batch, n, 3))
    xi[0, 0] = 0.0  # a VSP who values nothing
    xi[1, :, 2] = 0.0  # a resource nobody values
    s, welfare, without = slicing_optimum_batch(beta, xi)
    for b in range(batch):
        row_s, row_welfare = slicing_welfare_optimum(beta[b], xi[b])
        np.testing.assert_array_equal(s[b], row_s)
        assert welfare[b] == row_welfare
        np.testing.assert_array_equal(without[b], slicing_welfare_without(beta[b], xi[b], row_s))
        assert slicing.slicing_kkt_residual(s[b], beta[b], xi[b])["max"] < 1e-9


def test_batched_optimum_without_numba_takes_the_per_market_path(monkeypatch):
    rng = np.random.default_rng(1)
    beta, xi = rng.uniform(100.0, 200.0, (4, 5)), rng.uniform(0.0, 10.0, (4, 5, 3))
    compiled = slicing_optimum_batch(beta, xi)
    monkeypatch.setattr(slicing, "compiled_batch_kernel", lambda: None)
    fallback = slicing_optimum_batch(beta, xi)
    for a, b in zip(compiled, fallback):
        np.testing.assert_array_equal(a, b)


def test_batched_optimum_rejects_bad_input_naming_it():
    with pytest.raises(InvalidArgumentError, match="beta"):
        slicing_optimum_batch(np.ones(3), np.ones((3, 3)))
    with pytest.raises(InvalidArgumentError, match="xi"):
        slicing_optimum_batch(np.ones((2, 3)), np.ones((2, 4, 3)))
    xi = np.ones((2, 3, 3))
    xi[1, 2, 0] = -1.0
    with pytest.raises(InvalidArgumentError, match="xi"):
        slicing_optimum_batch(np.ones((2, 3)), xi)


# ----------------------------------------------------------------------------- row generators
@pytest.mark.parametrize("compiled", [True, False])
def test_row_generators_draw_what_each_env_draws(compiled, monkeypatch):
    import auction_envs.vector as vector

    if not compiled:
        monkeypatch.setattr(vector, "_compiled_standard_normal", lambda: None)
    generators = vector.RowGenerators(4)
    generators.seed(np.arange(4), [7, 8, None, 7])
    references = [np.random.default_rng(seed) for seed in (7, 8)]
    first = generators.standard_normal((4, 5, 3))
    subset = generators.select(np.array([1, 3])).standard_normal((2, 2))
    np.testing.assert_array_equal(first[0], references[0].standard_normal((5, 3)))
    np.testing.assert_array_equal(first[1], references[1].standard_normal((5, 3)))
    np.testing.assert_array_equal(first[3], first[0])  # the same seed
    np.testing.assert_array_equal(subset[0], references[1].standard_normal(2))
    np.testing.assert_array_equal(subset[1], references[0].standard_normal(2))
    # the generators' states moved as a dict env's would: the next draws continue the streams
    np.testing.assert_array_equal(generators.generators[1].standard_normal(3),
                                  references[1].standard_normal(3))
    generators.seed(np.array([1]), [7])  # a new seed: a fresh generator (and a new typed list)
    np.testing.assert_array_equal(generators.standard_normal((4, 1))[1],
                                  np.random.default_rng(7).standard_normal(1))


def test_views_before_reset_raise_reset_needed():
    from auction_envs.core.errors import ResetNeededError

    venv = auction_envs.make_vec("auction_envs/IoVSlicing-v1", num_envs=2)
    for view in (venv.equilibrium, venv.metrics):
        with pytest.raises(ResetNeededError, match="reset"):
            view()


def test_perf_benchmark_measures_and_resumes(tmp_path, capsys):
    from benchmarks import perf_vector_iov

    path = tmp_path / "perf.json"
    argv = ["--ids", "auction_envs/IoVSlicing-v1", "--num-envs", "1", "3", "--steps", "2",
            "--repeats", "1", "--n-vsps", "3", "--no-progress", "--json", str(path)]
    payload = perf_vector_iov.main(argv)
    results = payload["results"]
    assert [r["num_envs"] for r in results] == [1, 3]
    assert all(r["steps"] == [2] and r["steps_per_s"] > 0 for r in results)
    assert all(r["episode_steps_per_s"] <= r["steps_per_s"] for r in results)
    assert "50,000" in capsys.readouterr().out
    again = perf_vector_iov.main(argv)  # resumed from perf.json.cells.jsonl: the same figures
    assert again["results"] == results
