"""MADDPG on tiny problems with known answers (seeded, CPU, one thread)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gymnasium import spaces  # noqa: E402
from pettingzoo import ParallelEnv  # noqa: E402

import auction_envs  # noqa: E402
from agents.base import Transition  # noqa: E402
from agents.maddpg import MADDPG, ActionScaler, MADDPGConfig  # noqa: E402
from agents.runner import play_episode  # noqa: E402

torch.set_num_threads(1)
KELLY = "auction_envs/KellyGame-v0"


def _kelly(n_agents: int = 2, max_cycles: int = 1) -> Any:
    return auction_envs.make(KELLY, n_agents=n_agents, max_cycles=max_cycles)


def _step(env: Any, learner: MADDPG, observations: dict, explore: bool = True) -> tuple:
    actions = learner.act(observations, explore=explore)
    next_observations, rewards, terminations, truncations, infos = env.step(actions)
    return Transition(observations, actions, rewards, next_observations, terminations,
                      truncations, infos)


class OneShotGame(ParallelEnv):
    """A one-shot two-player game: one constant observation, one step, then truncated."""

    def __init__(self, agents: list[str], action_space: spaces.Space) -> None:
        self.possible_agents = agents
        self.agents: list[str] = []
        self._observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self._action_space = action_space

    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple:
        self.agents = list(self.possible_agents)
        return {a: np.ones(1, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def _end(self, rewards: dict[str, float]) -> tuple:
        """The step's return for ``rewards``: the episode ends by truncation."""
        observations = {a: np.ones(1, np.float32) for a in self.agents}
        done = {a: False for a in self.agents}
        truncated = {a: True for a in self.agents}
        self.agents = []
        return observations, rewards, done, truncated, {a: {} for a in self.possible_agents}


class MatrixGame(OneShotGame):
    """A one-shot two-player common-payoff matrix game with Discrete(3) actions."""

    metadata: ClassVar[dict[str, Any]] = {"name": "matrix_game_v0"}

    def __init__(self, payoff: np.ndarray) -> None:
        self.payoff = np.asarray(payoff, dtype=np.float64)
        super().__init__(["row", "column"], spaces.Discrete(self.payoff.shape[0]))

    def step(self, actions: dict) -> tuple:
        value = float(self.payoff[int(actions["row"]), int(actions["column"])])
        return self._end({a: value for a in self.agents})


class ContinuousDilemma(OneShotGame):
    """A one-shot two-player continuous prisoner's dilemma: actions ``a_i in [0, 1]`` (how much to
    give), reward ``r_i = benefit * a_j - cost * a_i`` with ``benefit > cost``. Each player's own
    reward is maximized at ``a_i = 0`` whatever the other does (dominant); the summed reward
    ``(benefit - cost)(a_1 + a_2)`` at ``a_1 = a_2 = 1``."""

    metadata: ClassVar[dict[str, Any]] = {"name": "continuous_dilemma_v0"}

    def __init__(self, benefit: float = 2.0, cost: float = 1.0) -> None:
        self.benefit, self.cost = benefit, cost
        super().__init__(["p1", "p2"], spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32))

    def step(self, actions: dict) -> tuple:
        give = {a: float(np.asarray(actions[a]).reshape(-1)[0]) for a in self.possible_agents}
        return self._end({a: self.benefit * give[b] - self.cost * give[a]
                          for a, b in (("p1", "p2"), ("p2", "p1"))})


# ---------------------------------------------------------------------------- known equilibria
def test_two_bidder_kelly_bids_approach_the_nash_equilibrium():
    """One-shot two-bidder Kelly auction (a = 100, c = 400, delta = 0.1): the unique NE bids are
    z* = 50.05 each (the env's ``equilibrium()``). The actors start near the middle of the Box
    (bids ~200, NashConv ~130) and must end with NashConv < 4, i.e. no bidder can gain more than
    about 3% of its payoff (|payoff| ~120) by deviating, and bids within 30% of z*. The payoff is
    flat at the NE (bids 65/65 have NashConv 2.6, 35/65 12.5), so this is what a critic fitted
    from noisy samples resolves in ~500 gradient steps; the small buffer (256 rows) keeps the
    critic's data near the current bids."""
    env = _kelly()
    equilibrium = env.unwrapped.equilibrium()
    config = MADDPGConfig(gamma=0.0, batch_size=64, learning_starts=64, noise_start=0.3,
                          noise_end=0.1, noise_anneal_steps=300, reward_scale=0.01,
                          actor_lr=1e-2, critic_lr=1e-2, buffer_size=256)
    learner = MADDPG(env, config, seed=0)

    def nash_conv() -> float:
        observations, _ = env.reset(seed=0)
        env.step(learner.act(observations, explore=False))
        return env.unwrapped.metrics()["nash_conv"]

    assert nash_conv() > 100
    for episode in range(600):
        play_episode(env, learner, seed=episode)
    observations, _ = env.reset(seed=0)
    bids = np.array([learner.act(observations, explore=False)[a][0] for a in env.possible_agents])
    np.testing.assert_allclose(bids, equilibrium, rtol=0.3)
    assert nash_conv() < 4.0


def test_cooperative_matrix_game_reaches_the_optimum_through_gumbel_softmax():
    """Common payoff with optimum (2, 2) = 10, a worse coordination point (0, 0) = 8 and
    miscoordination penalties: both greedy actions must be the optimum."""
    payoff = np.array([[8.0, -6.0, -6.0], [-6.0, 4.0, 0.0], [-6.0, 0.0, 10.0]])
    env = MatrixGame(payoff)
    config = MADDPGConfig(gamma=0.0, batch_size=64, learning_starts=64, actor_lr=1e-2,
                          critic_lr=1e-2, reward_scale=0.1, critic_sharing="shared",
                          others_actions="current", buffer_size=1_000)
    learner = MADDPG(env, config, seed=1)
    observations, _ = env.reset()
    before = learner.act(observations, explore=False)
    for _ in range(400):
        play_episode(env, learner)
    greedy = learner.act(env.reset()[0], explore=False)
    assert (int(greedy["row"]), int(greedy["column"])) == (2, 2), (before, greedy)


@pytest.mark.parametrize("sharing,expected", [("own", 0.0), ("team", 1.0)])
def test_reward_sharing_moves_the_dilemma_from_defection_to_cooperation(sharing, expected):
    """The continuous dilemma: with each player's own reward both must learn to give nothing (the
    dominant action), with the summed (team) reward both must give everything; the same seed,
    config and start (actors initialized at 0.5) otherwise."""
    env = ContinuousDilemma()
    config = MADDPGConfig(gamma=0.0, batch_size=64, learning_starts=64, actor_lr=1e-2,
                          critic_lr=1e-2, noise_start=0.3, noise_end=0.1, noise_anneal_steps=200,
                          buffer_size=256, reward_sharing=sharing, actor_init_unit=0.0)
    learner = MADDPG(env, config, seed=0)
    start = learner.act(env.reset()[0], explore=False)
    assert all(abs(float(start[a][0]) - 0.5) < 0.1 for a in env.possible_agents)
    for _ in range(400):
        play_episode(env, learner)
    greedy = learner.act(env.reset()[0], explore=False)
    for agent in env.possible_agents:
        assert abs(float(greedy[agent][0]) - expected) < 0.1, (sharing, greedy)


def test_team_targets_are_the_summed_reward_for_every_agent():
    env = ContinuousDilemma()
    learner = MADDPG(env, MADDPGConfig(gamma=0.0, reward_scale=0.5, reward_sharing="team"), seed=0)
    observations, _ = env.reset()
    transition = _step(env, learner, observations)
    learner.observe(transition)
    batch = learner._tensors({name: values[:1] for name, values in learner.buffer.data.items()})
    total = sum(transition.rewards.values())
    np.testing.assert_allclose(learner.td_targets(batch).numpy()[0], [0.5 * total] * 2, rtol=1e-6)
    assert transition.rewards["p1"] != transition.rewards["p2"]  # the sum is not trivially each


# ---------------------------------------------------------------------------- TD targets
@pytest.mark.parametrize("twin", [False, True])
def test_td_target_bootstraps_on_truncation_and_not_on_termination(twin):
    """The same row stored twice, once truncated and once terminated: the targets must be
    ``s r + gamma Q'(c', mu'(o'))`` and exactly ``s r``, with ``Q'`` evaluated by hand from the
    target networks (the minimum of the twin heads with ``twin_critics``)."""
    env = _kelly(max_cycles=3)
    config = MADDPGConfig(gamma=0.9, reward_scale=0.5, twin_critics=twin, learning_starts=10)
    learner = MADDPG(env, config, seed=3)
    observations, _ = env.reset(seed=0)
    transition = _step(env, learner, observations)
    for terminated in (False, True):
        learner.observe(Transition(
            transition.observations, transition.actions, transition.rewards,
            transition.next_observations, {a: terminated for a in env.possible_agents},
            {a: not terminated for a in env.possible_agents}, transition.infos))
    rows = {name: values[:2] for name, values in learner.buffer.data.items()}
    batch = learner._tensors(rows)
    targets = learner.td_targets(batch).numpy()
    rewards = np.array([transition.rewards[a] for a in env.possible_agents]) * 0.5
    np.testing.assert_allclose(targets[1], rewards, rtol=1e-6)  # terminated: no bootstrap
    with torch.no_grad():  # Q'(c', mu'(o')) by hand
        next_obs = [batch["next_obs"][k][:1] for k in range(2)]
        next_actions = [torch.tanh(learner.target_actors[k](next_obs[k])) for k in range(2)]
        inputs = torch.cat([torch.cat(next_obs, 1), *next_actions], 1)
        heads = 2 if twin else 1
        next_q = np.array([min(float(learner.target_critics[h * 2 + i](inputs)) for h in range(heads))
                           for i in range(2)])
    np.testing.assert_allclose(targets[0], rewards + 0.9 * next_q, rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(next_q) > 1e-4)  # the bootstrap term is really there


# ---------------------------------------------------------------------------- actions
def test_action_scaling_round_trip_and_bounds():
    space = spaces.Box(np.array([1.0, -5.0, 0.0], np.float32), np.array([400.0, 5.0, 0.0], np.float32))
    scaler = ActionScaler(space)
    np.testing.assert_array_equal(scaler.to_env(-np.ones(3)), space.low)
    np.testing.assert_array_equal(scaler.to_env(np.ones(3)), space.high)
    np.testing.assert_array_equal(scaler.to_unit(space.low), [-1.0, -1.0, 0.0])
    np.testing.assert_array_equal(scaler.to_unit(space.high), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(scaler.to_env(np.full(3, 7.0)), space.high)  # clipped
    actions = np.random.default_rng(0).uniform(space.low, space.high, size=(50, 3))
    for action in actions:
        back = scaler.to_env(scaler.to_unit(action))
        assert back.dtype == np.float32 and space.contains(back)
        np.testing.assert_allclose(back, action, rtol=1e-6, atol=1e-4)
    with pytest.raises(ValueError, match="finite Box bounds"):
        ActionScaler(spaces.Box(0.0, np.inf, shape=(1,)), "bidder_0")


def test_explore_adds_noise_and_greedy_is_deterministic():
    env = _kelly()
    learner = MADDPG(env, MADDPGConfig(noise_start=0.3), seed=0)
    observations, _ = env.reset(seed=0)
    greedy = [learner.act(observations, explore=False) for _ in range(2)]
    noisy = [learner.act(observations, explore=True) for _ in range(2)]
    for agent in env.possible_agents:
        assert env.action_space(agent).contains(noisy[0][agent])
        np.testing.assert_array_equal(greedy[0][agent], greedy[1][agent])
        assert not np.array_equal(noisy[0][agent], greedy[0][agent])
        assert not np.array_equal(noisy[0][agent], noisy[1][agent])
    discrete = MADDPG(MatrixGame(np.eye(3)), MADDPGConfig(), seed=0)
    draws = {int(discrete.act({"row": np.ones(1), "column": np.ones(1)})["row"]) for _ in range(40)}
    assert len(draws) > 1  # Gumbel sampling explores every action of a near-uniform policy


def test_noise_anneals_linearly_then_stays():
    env = _kelly()
    learner = MADDPG(env, MADDPGConfig(noise_start=0.5, noise_end=0.1, noise_anneal_steps=100))
    values = []
    for steps in (0, 50, 100, 1000):
        learner.env_steps = steps
        values.append(learner.noise_sigma())
    np.testing.assert_allclose(values, [0.5, 0.3, 0.1, 0.1])


# ---------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("options", [
    {},
    {"critic_input": "state", "twin_critics": True, "target_noise": 0.2, "policy_delay": 2,
     "others_actions": "current", "critic_sharing": "shared"},
])
def test_save_load_round_trip_gives_identical_next_actions_and_update(tmp_path, options):
    env = _kelly(n_agents=3, max_cycles=5)
    config = MADDPGConfig(batch_size=16, learning_starts=16, **options)
    learner = MADDPG(env, config, seed=5)
    for episode in range(5):
        play_episode(env, learner, seed=episode)
    assert learner.gradient_steps > 0
    learner.save(tmp_path / "maddpg.npz")
    reloaded = MADDPG(env, config, seed=99)  # other seed: everything must come from the file
    reloaded.load(tmp_path / "maddpg.npz")
    observations, _ = env.reset(seed=42)
    for explore in (True, False):
        first, second = learner.act(observations, explore), reloaded.act(observations, explore)
        for agent in env.possible_agents:
            np.testing.assert_array_equal(first[agent], second[agent])
    learner.env_steps += config.update_every - learner.env_steps % config.update_every
    reloaded.env_steps = learner.env_steps
    assert learner.update() == reloaded.update() != {}
    for a, b in zip(learner.actors.parameters(), reloaded.actors.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_checkpoint_refuses_other_config_and_stores_no_pickle(tmp_path):
    env = _kelly()
    MADDPG(env, MADDPGConfig(), seed=0).save(tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as data:  # loads without pickle
        assert "__meta__" in data.files
    with pytest.raises(ValueError, match="config differs"):
        MADDPG(env, MADDPGConfig(gamma=0.5), seed=0).load(tmp_path / "a.npz")


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("field,value", [
    ("gamma", 1.5), ("tau", 0.0), ("batch_size", 0), ("critic_input", "obs"),
    ("others_actions", "replay"), ("critic_sharing", "one"), ("hidden_sizes", ()),
    ("reward_sharing", "shared"), ("actor_init_unit", 1.0),
])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"MADDPGConfig.{field}"):
        MADDPGConfig(**{field: value})


def test_observe_needs_every_controlled_agent():
    env = _kelly()
    learner = MADDPG(env, seed=0)
    observations, _ = env.reset(seed=0)
    transition = _step(env, learner, observations)
    with pytest.raises(ValueError, match="bidder_1"):
        learner.observe(Transition(transition.observations, {"bidder_0": transition.actions["bidder_0"]},
                                   transition.rewards, transition.next_observations,
                                   transition.terminations, transition.truncations, {}))
    assert learner.buffer.size == 0


@pytest.mark.parametrize("twin", [False, True])
def test_shared_critic_factored_first_layer_equals_one_pass_per_agent_id(twin):
    """The shared critic computes its first layer once (the one-hot id as a weight column, a
    replaced action as a shift): every value and every actor gradient equals ``n`` explicit
    passes of ``[context, actions, one_hot(i)]`` with agent ``i``'s action replaced."""
    env = _kelly(n_agents=4, max_cycles=3)
    learner = MADDPG(env, MADDPGConfig(critic_sharing="shared", twin_critics=twin,
                                       hidden_sizes=(16, 8)), seed=3)
    generator = torch.Generator().manual_seed(0)
    batch, n = 7, learner.n
    context = torch.randn(batch, sum(learner.obs_sizes), generator=generator)
    actions = [torch.rand(batch, size, generator=generator) * 2 - 1 for size in learner.action_sizes]

    def explicit(critic, joint_per_agent):
        return torch.stack([
            critic(torch.cat([context, *joint_per_agent[i],
                              torch.eye(n)[i].expand(batch, n)], dim=1))[:, i]
            for i in range(n)], dim=1)

    for head in range(2 if twin else 1):
        torch.testing.assert_close(learner._q_all(head, context, actions),
                                   explicit(learner.critics[head], [actions] * n))
    obs = [torch.randn(batch, size, generator=generator) for size in learner.obs_sizes]
    gradients = []
    for route in ("factored", "explicit"):
        own = [torch.tanh(learner.actors[i](obs[i])) for i in range(n)]
        if route == "factored":
            values = learner._q_own(context, actions, own)
        else:
            values = explicit(learner.critics[0],
                              [[own[k] if k == i else actions[k] for k in range(n)]
                               for i in range(n)])
        for actor in learner.actors:
            actor.zero_grad(set_to_none=True)
        values.mean(dim=0).sum().backward()
        gradients.append([p.grad.clone() for p in learner.actors.parameters()])
        if route == "factored":
            factored_values = values.detach()
        else:
            torch.testing.assert_close(factored_values, values.detach())
    for factored, reference in zip(*gradients):
        torch.testing.assert_close(factored, reference)
