"""Exchange learners: GLM estimation, projection, Algorithm 1, greedy, proportional response."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

import auction_envs
from agents.base import Transition
from agents.exchange import BanditCE, GreedyCE, proportional_response_traders
from agents.exchange.glm import project_box, quasi_likelihood_estimate
from auction_envs.oracles.exchange import make_family
from benchmarks.quick_exchange import quick_run


def _play(env, learner, rounds=None):
    observations, _ = env.reset(seed=0)
    losses = []
    while env.agents and (rounds is None or len(losses) < rounds):
        actions = learner.act(observations)
        next_observations, rewards, terminations, truncations, infos = env.step(actions)
        learner.observe(Transition(observations, actions, rewards, next_observations,
                                   terminations, truncations, infos))
        losses.append(infos[next(iter(infos))].get("ce_loss", np.nan))
        observations = next_observations
    return observations, np.array(losses)


def test_glm_estimate_recovers_theta():
    rng = np.random.default_rng(0)
    family = make_family("ces", rho=0.5)
    theta = np.array([0.3, 0.8, 0.5])
    x = rng.dirichlet(np.ones(3), size=2000)
    phi = family.phi(x)
    y = family.link(phi @ theta) + 0.05 * rng.standard_normal(2000)
    estimate = quasi_likelihood_estimate(phi, y, family, np.full(3, 0.5))
    np.testing.assert_allclose(estimate, theta, atol=0.03)
    # the estimating equation holds at the answer
    assert np.abs(phi.T @ (y - family.link(phi @ estimate))).max() < 1e-6


def test_projection_in_design_norm_is_exact():
    rng = np.random.default_rng(1)
    for _ in range(50):
        m = int(rng.integers(1, 5))
        a = rng.normal(size=(m + 1, m))
        gram = a.T @ a + 1e-3 * np.eye(m)
        theta = rng.normal(0.5, 1.0, m)
        v = project_box(theta, gram, 0.1, 1.0)
        value = (v - theta) @ gram @ (v - theta)
        ref = minimize(lambda z, t=theta, g=gram: (z - t) @ g @ (z - t), np.clip(theta, 0.1, 1.0),
                       bounds=[(0.1, 1.0)] * m, method="L-BFGS-B",
                       options={"ftol": 1e-15, "gtol": 1e-12})
        assert value <= ref.fun + 1e-9
        assert np.all((v >= 0.1) & (v <= 1.0))


def test_algorithm1_learns_and_checkpoint_resumes_identically(tmp_path):
    env = auction_envs.make("auction_envs/ExchangeEconomyMechanism-v0", max_cycles=300)
    learner = BanditCE.from_env(env, seed=0, nu_scale=0.3)
    observations, losses = _play(env, learner)
    assert learner.init_rounds == 5
    assert losses[-50:].mean() < 0.5 * losses[5:55].mean()
    assert np.abs(learner.theta_tilde - env.unwrapped.economy.theta).max() < 0.3
    # save / load (RNG included): the next actions are identical
    path = tmp_path / "bandit_ce.npz"
    learner.save(path)
    clone = BanditCE.from_env(env, seed=123)
    clone.load(path)
    obs = {"mechanism": observations["mechanism"]} if "mechanism" in observations else {
        "mechanism": env.unwrapped.state()}
    np.testing.assert_array_equal(learner.act(obs)["mechanism"], clone.act(obs)["mechanism"])
    np.testing.assert_array_equal(learner.act(obs)["mechanism"], clone.act(obs)["mechanism"])


def test_greedy_never_samples_and_is_deterministic():
    env = auction_envs.make("auction_envs/ExchangeEconomyMechanismAmdahl-v0", max_cycles=60)
    first = GreedyCE.from_env(env, seed=0)
    assert first.config.sample is False
    _, losses_a = _play(env, first)
    _, losses_b = _play(env, GreedyCE.from_env(env, seed=99))
    np.testing.assert_array_equal(losses_a, losses_b)  # no randomness in the learner
    observation = {"mechanism": env.unwrapped.state()}
    spending = first.spending.copy()
    explored = first.act(observation, explore=True)["mechanism"]
    first.spending = spending
    np.testing.assert_array_equal(explored, first.act(observation, explore=False)["mechanism"])
    np.testing.assert_array_equal(first.theta_played, first.theta_tilde)


def test_initialization_gives_every_good_wholly_to_every_agent():
    learner = BanditCE(5, 3, "ces", rho=0.5)
    seen = np.zeros((5, 3))
    for t in range(learner.init_rounds):
        allocation = learner._initialization_allocation(t)
        np.testing.assert_allclose(allocation.sum(axis=0), 1.0)
        seen += allocation == 1.0
    assert np.all(seen >= 1)


def test_proportional_response_traders_reach_ce():
    rows = quick_run(seed=0)
    by_env = {}
    for row in rows:
        by_env.setdefault(row["env_id"], {})[row["metric"]] = row["value"]
    ces, amdahl = (by_env[env_id] for env_id in ("auction_envs/ExchangeEconomy-v0",
                                                  "auction_envs/ExchangeEconomyAmdahl-v0"))
    assert ces["oracle CE verified"] == 1.0 and ces["||p - p_CE||"] <= 1e-6
    assert ces["CE loss, last round"] < 1e-6
    assert amdahl["CE loss, last round"] < 1e-3 * amdahl["CE loss, first round"]


def test_proportional_response_with_hidden_preferences_and_checkpoint(tmp_path):
    env = auction_envs.make("auction_envs/ExchangeEconomy-v0", reveal_preferences=False,
                            max_cycles=200)
    learner = proportional_response_traders(env, seed=0, exploration=0.1)
    _play(env, learner)
    assert env.unwrapped.metrics()["ce_loss"] < env.unwrapped.metrics()["mean_ce_loss"] * 5
    path = tmp_path / "pr.npz"
    learner.save(path)
    clone = proportional_response_traders(env, seed=5, exploration=0.1)
    clone.load(path)
    observations, _ = env.reset(seed=1)
    np.testing.assert_array_equal(learner.act(observations)["trader_0"],
                                  clone.act(observations)["trader_0"])


def test_reproduction_smoke(tmp_path):
    from benchmarks.reproduce_exchange import main

    result = main(["--T", "40", "--seeds", "2", "--settings", "1,4", "--png", "",
                   "--json", str(tmp_path / "r.json"), "--no-progress", "--prd-iterations", "60",
                   "--prd-instances", "2"])
    assert {r["setting"] for r in result["rows"]} == {"CES rho=0.5", "Amdahl F=0.8"}
    assert (tmp_path / "r.json").exists()
    assert all(np.isfinite(r["exponent"]) for r in result["rows"])
