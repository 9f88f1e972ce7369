"""DRACO (agents.fsp): the Gaussian actor against closed forms, ψ against a known policy, the η
schedules, the highway CNN against conv1d, masking, the reservoir, checkpoints and resume."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

import auction_envs
from agents.base import Transition
from agents.fsp import DRACOConfig, DRACOLearner, eta
from agents.fsp.buffers import GroupedReservoir
from agents.fsp.draco import actor_critic_losses, decision_lambdas, lambda_advantages
from agents.fsp.networks import (
    HighwayCNN,
    gaussian_from_output,
    gaussian_log_prob,
    gaussian_parameter_count,
    gaussian_sample,
)
from agents.runner import RunConfig, train

torch.set_num_threads(1)
KELLY = "auction_envs/KellyGame-v0"
SMALL = {"history": 4, "filter_heights": (1, 3), "filters": 4, "embedding": 4,
         "sl_hidden": (16,), "rollout_steps": 8, "sl_every": 2, "sl_batch": 8, "sl_min": 4,
         "reservoir_capacity": 64}


def _kelly(n_agents: int = 2, max_cycles: int = 20):
    return auction_envs.make(KELLY, n_agents=n_agents, max_cycles=max_cycles)


def _play(env, learner, steps: int, seed: int = 0, learn: bool = True) -> dict:
    observations, _ = env.reset(seed=seed)
    metrics: dict = {}
    for _ in range(steps):
        actions = learner.act(observations)
        next_observations, rewards, terms, truncs, infos = env.step(actions)
        if learn:
            learner.observe(Transition(observations, actions, rewards, next_observations, terms,
                                       truncs, infos))
            metrics.update(learner.update())
        observations = next_observations
        if not env.agents:
            learner.end_episode()
            observations, _ = env.reset(seed=seed + 1)
    return metrics


# ---------------------------------------------------------------------------- Gaussian actor
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_log_prob_and_gradients_match_the_multivariate_normal(dim):
    generator = torch.Generator().manual_seed(dim)
    raw = torch.randn(5, gaussian_parameter_count(dim), generator=generator, dtype=torch.float64)
    x = torch.randn(5, dim, generator=generator, dtype=torch.float64)
    raw_ours = raw.clone().requires_grad_(True)
    raw_ref = raw.clone().requires_grad_(True)
    mean, scale = gaussian_from_output(raw_ours, dim, 0.05)
    ours = gaussian_log_prob(x, mean, scale)
    ref_mean, ref_scale = gaussian_from_output(raw_ref, dim, 0.05)
    reference = torch.distributions.MultivariateNormal(ref_mean, scale_tril=ref_scale).log_prob(x)
    torch.testing.assert_close(ours, reference)
    ours.sum().backward()
    reference.sum().backward()
    torch.testing.assert_close(raw_ours.grad, raw_ref.grad)
    # L is lower triangular with a positive diagonal (Σ = L Lᵀ positive definite)
    assert torch.all(torch.triu(scale, diagonal=1) == 0)
    assert torch.all(torch.diagonal(scale, dim1=-2, dim2=-1) > 0.05)


def test_gradients_match_the_closed_form_in_mu_and_sigma():
    """∂ln F/∂μ = Σ⁻¹(x − μ), ∂ln F/∂Σ = ½(Σ⁻¹(x−μ)(x−μ)ᵀΣ⁻¹ − Σ⁻¹) (the paper prints Σ for
    Σ⁻¹), hence ∂ln F/∂L = lower(2 (∂ln F/∂Σ) L)."""
    mean = torch.tensor([0.3, -0.4], dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([[0.8, 0.0], [0.5, 0.6]], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([1.1, 0.2], dtype=torch.float64)
    gaussian_log_prob(x, mean, scale).backward()
    sigma = (scale @ scale.T).detach()
    inverse = torch.linalg.inv(sigma)
    diff = (x - mean).detach()
    torch.testing.assert_close(mean.grad, inverse @ diff)
    d_sigma = 0.5 * (inverse @ torch.outer(diff, diff) @ inverse - inverse)
    torch.testing.assert_close(scale.grad, torch.tril(2.0 * d_sigma @ scale.detach()))
    # and the value by hand
    expected = (-0.5 * diff @ inverse @ diff - 0.5 * torch.logdet(sigma) - math.log(2 * math.pi))
    torch.testing.assert_close(gaussian_log_prob(x, mean, scale).detach(), expected)


def test_samples_are_mu_plus_L_y_with_covariance_L_Lt():
    mean = torch.tensor([0.5, -1.0])
    scale = torch.tensor([[0.7, 0.0], [-0.4, 0.3]])
    noise = torch.as_tensor(np.random.default_rng(0).standard_normal((40000, 2)), dtype=torch.float32)
    samples = gaussian_sample(mean, scale, noise)
    torch.testing.assert_close(samples[0], mean + scale @ noise[0])
    covariance = torch.cov(samples.T)
    torch.testing.assert_close(covariance, scale @ scale.T, atol=0.02, rtol=0.05)
    torch.testing.assert_close(samples.mean(0), mean, atol=0.02, rtol=0.0)


def test_the_action_sent_is_the_squashed_latent_whose_log_prob_is_stored():
    env = auction_envs.make("auction_envs/V2XOffloading-v1", max_cycles=30)
    learner = DRACOLearner(env, share_parameters=True, seed=1, **SMALL)
    observations, _ = env.reset(seed=0)
    actions = learner.act(observations)
    pending = learner._pending
    latent = pending["latent"]
    sent = np.stack([actions[a] for a in learner.agents])
    np.testing.assert_allclose(sent, 1.0 / (1.0 + np.exp(-latent.astype(np.float64))), rtol=1e-6)
    assert all(env.action_space(a).contains(actions[a]) for a in learner.agents)
    # behaviour density = η ζ(x) + (1 − η) ψ(x) at t = 1: η = 50/51 for the default schedule
    obs = learner._stack(observations)
    with torch.no_grad():
        br_mean, br_scale, avg_mean, avg_scale = learner._policies(pending["states"], obs)
        x = torch.as_tensor(latent)
        br = gaussian_log_prob(x, br_mean, br_scale).double().numpy()
        avg = gaussian_log_prob(x, avg_mean, avg_scale).double().numpy()
    mix = 50.0 / 51.0
    expected = np.log(mix * np.exp(br) + (1 - mix) * np.exp(avg))
    np.testing.assert_allclose(pending["behaviour_log_prob"], expected, rtol=1e-5, atol=1e-5)
    # clip mode sends the clipped latent itself
    clipped = DRACOLearner(env, squash="clip", seed=1, **SMALL)
    np.testing.assert_allclose(clipped.to_env_action(np.array([[-0.5, 0.25]] * 30))[0], [0.0, 0.25])


# ---------------------------------------------------------------------------- average behaviour ψ
def test_average_network_learns_a_known_fixed_policy():
    """Reservoir pairs from a fixed Gaussian policy x = 0.8 o₀ − 0.3 + 0.2 ε: ψ recovers its mean
    and its scale by maximum likelihood through the learner's own SL step."""
    env = _kelly(n_agents=2)
    learner = DRACOLearner(env, seed=0, normalize_observations=False, sl_lr=3e-3,
                           **{**SMALL, "sl_batch": 64, "reservoir_capacity": 512})
    rng = np.random.default_rng(0)
    for _ in range(512):
        obs = rng.uniform(-1, 1, size=(2, learner.obs_size)).astype(np.float32)
        target = (0.8 * obs[:, :1] - 0.3 + 0.2 * rng.standard_normal((2, 1))).astype(np.float32)
        learner.reservoir.add(obs, target, np.array([True, True]), rng)
    losses = [learner._average_policy_step()["sl_loss"] for _ in range(600)]
    assert losses[-1] < losses[0]
    test = rng.uniform(-1, 1, size=(2, learner.obs_size)).astype(np.float32)
    with torch.no_grad():
        _, _, mean, scale = learner._policies(np.repeat(test[:, None], 4, axis=1), test)
    np.testing.assert_allclose(mean.numpy()[:, 0], 0.8 * test[:, 0] - 0.3, atol=0.08)
    np.testing.assert_allclose(scale.numpy()[:, 0, 0], 0.2, atol=0.06)


def test_reservoir_keeps_every_item_with_equal_probability():
    capacity, items, runs = 10, 100, 3000
    reservoir = GroupedReservoir(runs, capacity, 1, 1)
    rng = np.random.default_rng(0)
    for item in range(items):
        value = np.full((runs, 1), item, dtype=np.float32)
        reservoir.add(value, value, np.ones(runs, dtype=bool), rng)
    counts = np.bincount(reservoir.inputs[:, :, 0].astype(int).ravel(), minlength=items)
    expected = runs * capacity / items  # 300 per item
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 150  # 99 degrees of freedom: P(chi2 > 150) < 1e-3
    assert counts.sum() == runs * capacity


# ---------------------------------------------------------------------------- η
def test_eta_schedules_values():
    t = np.array([1, 2, 10, 100])
    np.testing.assert_allclose(eta("1/t", t), [1.0, 0.5, 0.1, 0.01])
    np.testing.assert_allclose(eta("50/(t+50)", t), [50 / 51, 50 / 52, 50 / 60, 50 / 150])
    np.testing.assert_allclose(eta("constant", t, 0.1), [0.1] * 4)
    with pytest.raises(ValueError, match="eta_schedule"):
        eta("1/sqrt(t)", t)
    with pytest.raises(ValueError, match="start at 1"):
        eta("1/t", 0)


def test_with_1_over_t_the_best_response_is_rarely_played_but_its_data_do_not_dry_up():
    env = _kelly(n_agents=2, max_cycles=400)
    learner = DRACOLearner(env, eta_schedule="1/t", seed=0, **SMALL)
    _play(env, learner, 300)
    np.testing.assert_array_equal(learner.decisions, [300, 300])
    np.testing.assert_array_equal(learner.reservoir.seen, [300, 300])  # one BR pair per decision
    played = learner.br_played / 2
    assert 2 <= played <= 14  # E = Σ_{t≤300} 1/t ≈ 6.3 per agent
    assert learner.updates == 300 // SMALL["rollout_steps"]


# ---------------------------------------------------------------------------- highway CNN
@pytest.mark.parametrize(("history", "heights"), [(16, (1, 3, 5, 7, 9, 11, 13, 15)), (7, (1, 3, 7))])
def test_highway_cnn_shapes_and_filter_heights_match_conv1d(history, heights):
    generator = torch.Generator().manual_seed(0)
    net = HighwayCNN(3, history, 6, heights, 4, 5, generator, embedding=5)
    x = torch.randn(3, 7, history, 6, generator=generator)
    assert net(x).shape == (3, 7, 5)
    assert net.conv_features(x).shape == (3, 7, 4 * len(heights))
    embedded = net.embedded(x)
    reference = []
    for (weight, bias), height in zip(net.kernels(), heights, strict=True):
        assert weight.shape == (3, 4, 5, height)
        per_group = [torch.relu(torch.nn.functional.conv1d(embedded[g].transpose(1, 2), weight[g],
                                                           bias[g])).amax(-1) for g in range(3)]
        reference.append(torch.stack(per_group))
    torch.testing.assert_close(net.conv_features(x), torch.cat(reference, -1))
    # groups are independent networks: changing group 0's input leaves group 1's output alone
    y = x.clone()
    y[0] += 1.0
    torch.testing.assert_close(net(y)[1:], net(x)[1:])
    with pytest.raises(ValueError, match="filter heights"):
        HighwayCNN(1, 4, 6, (1, 5), 4, 1, generator)


def test_highway_cnn_sees_the_whole_window_and_only_it():
    generator = torch.Generator().manual_seed(1)
    net = HighwayCNN(1, 16, 3, (1, 3, 5, 7, 9, 11, 13, 15), 4, 1, generator, embedding=None)
    # seeded inputs (the global RNG depends on test order), a batch of them: one input can leave
    # a state behind dead ReLUs by chance; the receptive field is what this checks
    x = torch.randn(1, 8, 16, 3, generator=generator).requires_grad_()  # [groups, N, ν, features]
    net(x).sum().backward()
    assert torch.all(x.grad.abs().sum((0, 1, 3)) > 0)  # every one of the ν states matters


# ---------------------------------------------------------------------------- masking
def test_a_masked_step_contributes_no_actor_gradient():
    config = DRACOConfig(**SMALL)
    generator = torch.Generator().manual_seed(0)
    actor = HighwayCNN(2, 4, 3, (1, 3), 4, gaussian_parameter_count(2), generator, 4)
    critic = HighwayCNN(2, 4, 3, (1, 3), 4, 1, generator, 4)
    rng = np.random.default_rng(0)
    draws = torch.Generator().manual_seed(1)  # seeded: the global RNG depends on test order
    batch = {"states": torch.randn(2, 6, 4, 3, generator=draws),
             "next_states": torch.randn(2, 6, 4, 3, generator=draws),
             "latent": torch.randn(2, 6, 2, generator=draws), "behaviour_log_prob": torch.full((2, 6), -2.0),
             "reward": torch.as_tensor(rng.normal(size=(2, 6)), dtype=torch.float32),
             "rbar": torch.zeros(2, 6), "terminated": torch.zeros(2, 6),
             "episode_end": torch.zeros(2, 6), "mask": torch.ones(2, 6)}
    batch["mask"][0, 2] = 0.0

    def actor_gradient(b):
        actor.zero_grad()
        actor_critic_losses(actor, critic, b, 2, config)["actor_loss"].backward()
        return [p.grad.clone() for p in actor.parameters()]

    base = actor_gradient(batch)
    changed = dict(batch, latent=batch["latent"].clone())
    changed["latent"][0, 2] += 3.0  # a different action on the masked step: no effect
    for a, b in zip(base, actor_gradient(changed), strict=True):
        torch.testing.assert_close(a, b)
    unmasked = dict(changed, mask=torch.ones(2, 6))  # ... but it matters once unmasked
    assert any(not torch.allclose(a, b) for a, b in zip(base, actor_gradient(unmasked), strict=True))


def test_lambda_advantages_by_hand():
    delta = torch.tensor([[1.0, 2.0, 3.0]])
    ends = torch.tensor([[0.0, 1.0, 0.0]])  # the episode ends after step 1
    torch.testing.assert_close(lambda_advantages(delta, ends, 1.0, 0.0), delta)
    # A_2 = 3; A_1 = 2 (chain cut); A_0 = 1 + 0.9 * 0.5 * 2
    torch.testing.assert_close(lambda_advantages(delta, ends, 0.9, 0.5),
                               torch.tensor([[1.9, 2.0, 3.0]]))


def test_decision_credit_by_hand():
    """Decisions at steps 0 and 3; steps 1-2 hold (mask 0). Rewards u = (0, 0, -5, 1, 2) with
    R̄ = 1 and V = (1, 2, 3, 4, 5, V(S') = 6 after the last). δ_t = u_t − 1 + V_{t+1} − V_t:
    (0, 0, -5, 1, 2). λ = 0.5 at the decision steps and 1 on the held ones."""
    u = torch.tensor([[0.0, 0.0, -5.0, 1.0, 2.0]])
    v = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    delta = u - 1.0 + v[:, 1:] - v[:, :-1]
    mask = torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.0]])
    lambdas = decision_lambdas(mask, 0.5)
    torch.testing.assert_close(lambdas, torch.tensor([[0.5, 1.0, 1.0, 0.5, 1.0]]))
    got = lambda_advantages(delta, torch.zeros_like(delta), 1.0, lambdas)
    # A_4 = 2; A_3 = 1 + 1·2 = 3 (step 4 is held: λ 1); A_2 = -5 + 0.5·3 = -3.5 (step 3 is a
    # new decision: λ 0.5); A_1 = 0 + 1·(-3.5); A_0 = 0 + 1·(-3.5): the failure at step 2, two
    # steps after the decision, reaches decision 0 at full weight; with a constant λ = 0.5 it is
    # damped: A_0 = 0.25·(-5) + 0.125·1 + 0.0625·2 = -1
    torch.testing.assert_close(got, torch.tensor([[-3.5, -3.5, -3.5, 3.0, 2.0]]))
    # semi-MDP form of A_0 with td_lambda 0: Σ_{k<3} (u_k − R̄) + V_3 − V_0 = -8 + 4 - 1 = -5
    zero = lambda_advantages(delta, torch.zeros_like(delta), 1.0, decision_lambdas(mask, 0.0))
    assert zero[0, 0].item() == -5.0 and zero[0, 3].item() == 3.0
    step = lambda_advantages(delta, torch.zeros_like(delta), 1.0, 0.5)
    torch.testing.assert_close(step[0, 0], torch.tensor(-1.0))


def test_decision_credit_default_keeps_step_credit():
    """credit="step" (default) reproduces the stored v1 losses; "decision" changes the actor's."""
    config = DRACOConfig(**dict(SMALL, rollout_steps=4, td_lambda=0.5))
    generator = torch.Generator().manual_seed(0)
    actor = HighwayCNN(1, 4, 3, (1, 3), 4, gaussian_parameter_count(2), generator, 4)
    critic = HighwayCNN(1, 4, 3, (1, 3), 4, 1, generator, 4)
    draws = torch.Generator().manual_seed(1)
    batch = {"states": torch.randn(1, 4, 4, 3, generator=draws),
             "next_states": torch.randn(1, 4, 4, 3, generator=draws),
             "latent": torch.randn(1, 4, 2, generator=draws),
             "behaviour_log_prob": torch.full((1, 4), -2.0),
             "reward": torch.tensor([[0.0, -3.0, 0.0, 1.0]]), "rbar": torch.zeros(1, 4),
             "terminated": torch.zeros(1, 4), "episode_end": torch.zeros(1, 4),
             "mask": torch.tensor([[1.0, 0.0, 0.0, 1.0]])}
    base = actor_critic_losses(actor, critic, batch, 2, config)
    same = actor_critic_losses(actor, critic, batch, 2, replace(config, credit="step"))
    other = actor_critic_losses(actor, critic, batch, 2, replace(config, credit="decision"))
    torch.testing.assert_close(base["actor_loss"], same["actor_loss"])
    assert not torch.allclose(base["actor_loss"], other["actor_loss"])
    with pytest.raises(ValueError):
        DRACOConfig(credit="vehicle")


def test_credit_lookahead_finishes_the_last_decision_and_trains_each_row_once():
    """rollout_steps 3 + credit_lookahead 2: rows 3-4 complete row 2's λ-sum (decision at 2,
    held 3-4) but add nothing to either loss; the learner keeps them for the next update."""
    config = DRACOConfig(**dict(SMALL, rollout_steps=3, credit_lookahead=2, td_lambda=0.5,
                                credit="decision"))
    generator = torch.Generator().manual_seed(0)
    actor = HighwayCNN(1, 4, 3, (1, 3), 4, gaussian_parameter_count(2), generator, 4)
    critic = HighwayCNN(1, 4, 3, (1, 3), 4, 1, generator, 4)
    draws = torch.Generator().manual_seed(1)
    states = torch.randn(1, 6, 4, 3, generator=draws)
    batch = {"states": states[:, :5], "next_states": states[:, 1:],
             "latent": torch.randn(1, 5, 2, generator=draws),
             "behaviour_log_prob": torch.full((1, 5), -2.0),
             "reward": torch.tensor([[1.0, 0.0, 0.0, -4.0, 0.0]]), "rbar": torch.zeros(1, 5),
             "terminated": torch.zeros(1, 5), "episode_end": torch.zeros(1, 5),
             "mask": torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0]]),
             "train": torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0]])}
    with torch.no_grad():
        v = critic(states)[..., 0][0]
    out = actor_critic_losses(actor, critic, batch, 2, config)
    # A_2 = Σ_{k=2..4} u_k + V_5 − V_2 (λ 1 on the held rows 3-4): the −4 reaches decision 2
    a2 = -4.0 + v[5] - v[2]
    mean, scale = gaussian_from_output(actor(batch["states"]), 2, config.min_scale)
    log_prob = gaussian_log_prob(batch["latent"], mean, scale)
    rho = torch.exp(log_prob.detach() + 2.0).clamp(max=config.importance_clip)
    a0 = (1.0 + v[1] - v[0]) + (v[2] - v[1]) + 0.5 * a2  # row 1 held: λ 1; row 2 decides: λ
    expected = -(rho[0, 0] * a0 * log_prob[0, 0] + rho[0, 2] * a2 * log_prob[0, 2]) / 2.0
    torch.testing.assert_close(out["actor_loss"], expected)
    decided = dict(batch, mask=torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0]]))  # a decision in the tail
    moved = dict(decided, latent=batch["latent"].clone())
    moved["latent"][0, 3] += 2.0  # ... is trained with the next rollout, not now
    torch.testing.assert_close(actor_critic_losses(actor, critic, moved, 2, config)["actor_loss"],
                               actor_critic_losses(actor, critic, decided, 2, config)["actor_loss"])
    everything = {k: v for k, v in moved.items() if k != "train"}
    assert not torch.allclose(
        actor_critic_losses(actor, critic, everything, 2, config)["actor_loss"],
        actor_critic_losses(actor, critic, {k: v for k, v in decided.items() if k != "train"}, 2,
                            config)["actor_loss"])
    # the learner: updates after 3 + 2 rows, keeps the last 2 as the next rollout's first rows
    env = _kelly(n_agents=2, max_cycles=40)
    learner = DRACOLearner(env, seed=0, **dict(SMALL, rollout_steps=3, credit_lookahead=2,
                                               credit="decision"))
    _play(env, learner, 4)
    assert learner.updates == 0 and learner.rollout_size == 4
    tail = learner.rollout["reward"][3].copy()
    _play(env, learner, 1, seed=5)  # (a fresh episode: only the row bookkeeping is checked)
    assert learner.updates == 1 and learner.rollout_size == 2
    np.testing.assert_array_equal(learner.rollout["reward"][0], tail)
    _play(env, learner, 3, seed=6)
    assert learner.updates == 2 and learner.rollout_size == 2
    with pytest.raises(ValueError, match="credit_lookahead"):
        DRACOConfig(credit_lookahead=-1)


def test_masked_steps_feed_neither_psi_nor_the_decision_count():
    env = _kelly(n_agents=2, max_cycles=100)
    step = {"n": 0}

    def mask_fn(agent, observation):  # bidder_0 decides every other step
        return agent != "bidder_0" or step["n"] % 2 == 0

    learner = DRACOLearner(env, mask_fn=mask_fn, seed=0, **SMALL)
    observations, _ = env.reset(seed=0)
    for _ in range(40):
        actions = learner.act(observations)
        next_observations, rewards, terms, truncs, infos = env.step(actions)
        learner.observe(Transition(observations, actions, rewards, next_observations, terms,
                                   truncs, infos))
        learner.update()
        observations = next_observations
        step["n"] += 1
    assert learner.mask_source == "mask_fn"
    np.testing.assert_array_equal(learner.decisions, [20, 40])
    np.testing.assert_array_equal(learner.reservoir.seen, [20, 40])


def test_mask_read_by_name_from_the_layout_or_from_infos():
    from auction_envs.core.layout import Field, ObservationLayout

    env = _kelly(n_agents=2)
    layout = ObservationLayout([Field("needs_action", low=0.0, high=1.0),
                                Field("rest", size=env.observation_space("bidder_0").shape[0] - 1)])
    env.unwrapped.layout = layout
    learner = DRACOLearner(env, **SMALL)
    assert learner.mask_source == "layout"
    obs = {a: np.zeros(layout.size, np.float32) for a in learner.agents}
    obs["bidder_1"][layout.slice("needs_action")] = 1.0
    np.testing.assert_array_equal(learner.decision_mask(obs), [False, True])
    # the V2X env of today documents infos["needs_action"]: the previous step's flag is used
    v2x = auction_envs.make("auction_envs/V2XOffloading-v1", max_cycles=20)
    learner = DRACOLearner(v2x, share_parameters=True, **SMALL)
    assert learner.mask_source in ("layout", "infos")
    observations, infos = v2x.reset(seed=0)
    for _ in range(5):
        actions = learner.act(observations)
        next_observations, rewards, terms, truncs, infos = v2x.step(actions)
        learner.observe(Transition(observations, actions, rewards, next_observations, terms,
                                   truncs, infos))
        observations = next_observations
    expected = np.array([infos[a]["needs_action"] for a in learner.agents], dtype=bool)
    assert not expected.all() and expected.any()
    np.testing.assert_array_equal(learner.decision_mask(observations), expected)


# ---------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_gives_identical_next_actions_and_updates(tmp_path):
    env = _kelly(n_agents=3, max_cycles=50)
    learner = DRACOLearner(env, seed=4, **SMALL)
    _play(env, learner, 37)  # mid-rollout: 37 = 4 x 8 + 5
    learner.save(tmp_path / "draco.npz")
    clone = DRACOLearner(env, seed=99, **SMALL)  # a different seed: everything must come from the file
    clone.load(tmp_path / "draco.npz")
    probe = {a: np.linspace(0, 5, env.observation_space(a).shape[0]).astype(np.float32)
             for a in learner.agents}
    for explore in (False, True, True):
        first, second = learner.act(probe, explore), clone.act(probe, explore)
        for agent in learner.agents:
            np.testing.assert_array_equal(first[agent], second[agent])
    a = _play(_kelly(3, 50), learner, 12, seed=7)
    b = _play(_kelly(3, 50), clone, 12, seed=7)
    assert a == b and a  # the same update metrics (an actor-critic step happened)
    with pytest.raises(ValueError, match="config differs"):
        DRACOLearner(env, seed=4, **{**SMALL, "filters": 3}).load(tmp_path / "draco.npz")


def test_training_resumes_from_a_checkpoint_identically(tmp_path):
    def factory(env):
        return DRACOLearner(env, seed=2, share_parameters=True, td_lambda=0.9, **SMALL)

    kwargs = {"n_agents": 2, "max_cycles": 30}
    whole = train(factory, RunConfig(KELLY, rounds=60, env_kwargs=kwargs, progress=False,
                                     log_dir=str(tmp_path / "whole"), tensorboard=False))
    train(factory, RunConfig(KELLY, rounds=30, env_kwargs=kwargs, progress=False,
                             log_dir=str(tmp_path / "split"), tensorboard=False))
    resumed = train(factory, RunConfig(KELLY, rounds=60, env_kwargs=kwargs, progress=False,
                                       log_dir=str(tmp_path / "split"), tensorboard=False),
                    resume=True)
    for name, net in whole["learner"].networks.items():
        for (key, p), q in zip(net.state_dict().items(),
                               resumed["learner"].networks[name].state_dict().values(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0, msg=f"{name}.{key}")
    assert whole["learner"].updates == resumed["learner"].updates == 60 // SMALL["rollout_steps"]


def test_bad_configuration_names_the_field():
    with pytest.raises(ValueError, match="eta_schedule"):
        DRACOConfig(eta_schedule="1/sqrt(t)")
    with pytest.raises(ValueError, match="filter_heights"):
        DRACOConfig(history=8)  # the default heights go up to 15
    with pytest.raises(ValueError, match="rbar_rate"):
        DRACOConfig(rbar_rate=0.0)
    learner = DRACOLearner(_kelly(n_agents=2), **SMALL)
    with pytest.raises(KeyError, match="bidder_1"):
        learner.act({"bidder_0": np.zeros(8, np.float32)})


def test_explore_false_is_deterministic_and_leaves_training_state_alone():
    env = _kelly(n_agents=2)
    learner = DRACOLearner(env, seed=0, **SMALL)
    _play(env, learner, 10)
    before = learner.state_dict()
    observations, _ = env.reset(seed=3)
    first = learner.act(observations, explore=False)
    learner.reset_evaluation()
    second = learner.act(observations, explore=False)
    for agent in learner.agents:
        np.testing.assert_array_equal(first[agent], second[agent])
    after = learner.state_dict()
    assert after["rng"] == before["rng"]
    np.testing.assert_array_equal(after["history"], before["history"])
    np.testing.assert_array_equal(after["obs_moments"]["mean"], before["obs_moments"]["mean"])


def test_init_action_starts_both_means_at_it_and_to_latent_inverts_the_squash():
    env = auction_envs.make("auction_envs/V2XOffloading-v1", capacity=60.0, max_cycles=30)
    observations, _ = env.reset(seed=0)
    centre = DRACOLearner(env, seed=0, share_parameters=True, **SMALL)
    start = DRACOLearner(env, seed=0, share_parameters=True, init_action=(0.95, 0.375), **SMALL)
    for learner in (centre, start):
        obs = learner._stack(observations)
        learner.history[:, -1] = obs
        with torch.no_grad():
            br_mean, _, avg_mean, _ = learner._policies(learner.history, obs)
        for mean in (br_mean, avg_mean):
            action = learner.to_env_action(mean.numpy())
            if learner is start:
                assert action == pytest.approx(np.tile([0.95, 0.375], (30, 1)), abs=0.02)
            else:  # the default: the centre of the Box, about alpha = 0.5 (a 5-step hold)
                assert np.abs(action - 0.5).max() < 0.2
    latent = start.to_latent(np.array([0.3, 0.8]))
    assert start.to_env_action(latent) == pytest.approx(np.tile([0.3, 0.8], (30, 1)), abs=1e-6)
    assert np.isfinite(start.to_latent(np.array([1.0, 0.0]))).all()  # kept inside the Box
    with pytest.raises(ValueError, match="init_action"):
        DRACOLearner(env, seed=0, init_action=(0.5, 0.5, 0.5), **SMALL)
    with pytest.raises(ValueError, match="init_action"):
        DRACOLearner(env, seed=0, init_action=(1.5,), **SMALL)
    assert DRACOConfig.from_dict(start.config.to_dict()) == start.config
    # a list (JSON, the CLI) is the same config as the tuple: checkpoints resume across the two
    assert DRACOConfig(init_action=[0.95, 0.375], sl_hidden=[16]) == DRACOConfig(
        init_action=(0.95, 0.375), sl_hidden=(16,))


class _PerAgentConstant:
    """A scripted demonstrator: agent i always plays ``levels[i]`` of its Box."""

    def __init__(self, env, levels):
        self.env, self.levels = env, dict(zip(env.possible_agents, levels))

    def act(self, observations, explore=False):
        out = {}
        for agent in observations:
            space = self.env.action_space(agent)
            out[agent] = (space.low + self.levels[agent] * (space.high - space.low)).astype(
                space.dtype)
        return out


def test_imitate_clones_a_known_policy_into_both_means_and_leaves_rl_state_alone():
    env = _kelly(n_agents=2, max_cycles=200)
    learner = DRACOLearner(env, seed=0, share_parameters=False, **SMALL)
    demonstrator = _PerAgentConstant(env, [0.3, 0.7])
    report = learner.imitate(env, demonstrator, steps=150, seed=5, epochs=200, batch_size=32)
    assert report["decisions"] == 300 and report["steps"] == 150
    for name in ("actor", "average"):
        assert report[f"{name}_mse_after"] < 0.01 < report[f"{name}_mse_before"]
    for policy in ("average", "best_response"):  # a new episode played by the clone
        learner.config = replace(learner.config, eval_policy=policy)
        learner.reset_evaluation()
        observations, _ = env.reset(seed=9)
        for _ in range(20):
            actions = learner.act(observations, explore=False)
            expected = demonstrator.act(observations)
            for agent in env.possible_agents:
                width = float(env.action_space(agent).high[0] - env.action_space(agent).low[0])
                assert abs(float(actions[agent][0] - expected[agent][0])) < 0.03 * width, policy
            observations, *_ = env.step(actions)
    # the RL side starts where it was: no decisions, no reservoir rows, untouched optimizers
    assert learner.decisions.sum() == 0 and learner.reservoir.filled.sum() == 0
    assert all(not optimizer.state for optimizer in learner.optimizers.values())


def test_imitate_rejects_bad_arguments_and_a_demonstration_without_decisions():
    env = _kelly(n_agents=2, max_cycles=20)
    learner = DRACOLearner(env, seed=0, **SMALL)
    demonstrator = _PerAgentConstant(env, [0.5, 0.5])
    with pytest.raises(ValueError, match="steps"):
        learner.imitate(env, demonstrator, steps=0, seed=0)
    idle = DRACOLearner(env, seed=0, mask_fn=lambda agent, observation: False, **SMALL)
    with pytest.raises(ValueError, match="no decision"):
        idle.imitate(env, demonstrator, steps=5, seed=0)
