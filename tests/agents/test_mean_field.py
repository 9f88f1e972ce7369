"""Mean-field learners (agents.mean_field) on tiny problems with known answers.

* the mean field of a known joint action: one-hot means and soft histograms, exact values;
* MF-Q and MF-AC on a cooperative matrix game played by 4 agents reach the optimal joint action;
* the deterministic MF actor-critic on a one-shot allocation reaches the known optimum;
* save/load round trips: a reloaded learner's next actions and updates are identical;
* bad input raises errors that name the argument.
"""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny networks: threads only add contention on a 2-core machine

from agents.base import Transition  # noqa: E402
from agents.mean_field import MFAC, MFDDPG, MFQ, MeanFieldConfig  # noqa: E402
from agents.mean_field.features import (  # noqa: E402
    mean_field,
    mean_field_size,
    one_hot_mean,
    soft_histogram,
)


class OneShotTeamGame:
    """A one-round team game: every agent gets the same reward ``reward_fn(joint action)``."""

    def __init__(self, n: int, action_space: spaces.Space, reward_fn) -> None:
        self.possible_agents = [f"agent_{i}" for i in range(n)]
        self.agents: list[str] = []
        self._action_space = action_space
        self.reward_fn = reward_fn

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_space

    def observation_space(self, agent: str) -> spaces.Space:
        return spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, seed=None):
        self.agents = list(self.possible_agents)
        return {a: np.zeros(2, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        reward = float(self.reward_fn(np.stack([np.asarray(actions[a]) for a in self.agents])))
        obs = {a: np.zeros(2, np.float32) for a in self.agents}
        done = dict.fromkeys(self.agents, True)
        return (obs, dict.fromkeys(self.agents, reward), done, dict.fromkeys(self.agents, False),
                {a: {} for a in self.agents})


def train(learner, env, rounds: int) -> None:
    for _ in range(rounds):
        obs, _ = env.reset()
        actions = learner.act(obs, explore=True)
        next_obs, rewards, terms, truncs, infos = env.step(actions)
        learner.observe(Transition(obs, actions, rewards, next_obs, terms, truncs, infos))
        learner.update()
        learner.end_episode()


# ---------------------------------------------------------------------------- the mean field
def test_one_hot_mean_of_a_known_joint_action():
    actions = np.array([0, 2, 2, 1])
    expected = np.array([[0, 1 / 3, 2 / 3], [1 / 3, 1 / 3, 1 / 3], [1 / 3, 1 / 3, 1 / 3],
                         [1 / 3, 0, 2 / 3]])
    np.testing.assert_allclose(one_hot_mean(actions, 3), expected, atol=1e-15)
    # two heads (MultiDiscrete): per-head blocks, head-major
    heads = np.array([[0, 1], [1, 1], [1, 0]])
    np.testing.assert_allclose(one_hot_mean(heads, 2),
                               [[0, 1, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0, 1]])
    np.testing.assert_array_equal(one_hot_mean(np.array([1]), 3), np.zeros((1, 3)))


def test_soft_histogram_of_a_known_joint_action():
    # grid -1, 0, 1: 0.5 splits half-half between 0 and 1; -1 and 1 sit on grid points
    values = np.array([-1.0, 0.5, 1.0])
    histogram = soft_histogram(values, bins=3)
    np.testing.assert_allclose(histogram, [[0, 0.25, 0.75], [0.5, 0, 0.5], [0.5, 0.25, 0.25]])
    # each row sums to 1 and its first moment is the others' mean exactly
    rng = np.random.default_rng(0)
    values = rng.uniform(-1, 1, size=(6, 2))
    histogram = soft_histogram(values, bins=5).reshape(6, 2, 5)
    np.testing.assert_allclose(histogram.sum(-1), 1.0)
    others_mean = (values.sum(0) - values) / 5
    np.testing.assert_allclose(histogram @ np.linspace(-1, 1, 5), others_mean, atol=1e-12)
    # out-of-range values are clipped to the grid's ends
    np.testing.assert_allclose(soft_histogram(np.array([5.0, -5.0]), bins=2), [[1, 0], [0, 1]])


def test_mean_field_dispatches_on_the_space():
    multi = spaces.MultiDiscrete([7, 7, 7])
    levels = np.array([[0, 3, 6], [3, 3, 3]])
    # agent 0 sees agent 1's (3, 3, 3) and vice versa
    np.testing.assert_array_equal(mean_field(levels, multi),
                                  [np.eye(7)[[3, 3, 3]].ravel(), np.eye(7)[[0, 3, 6]].ravel()])
    assert mean_field_size(multi) == 21
    assert mean_field_size(spaces.Box(-1, 1, (2,)), bins=4) == 8
    np.testing.assert_allclose(mean_field(np.array([[0.0], [1.0]]), spaces.Box(-1, 1, (1,)), 3),
                               [[0, 0, 1], [0, 1, 0]])


def test_mean_field_rejects_bad_input():
    with pytest.raises(ValueError, match=r"0\.\.2"):
        one_hot_mean(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="bins"):
        soft_histogram(np.zeros(3), bins=1)
    with pytest.raises(ValueError, match="finite"):
        soft_histogram(np.array([0.0, np.nan]), bins=3)
    with pytest.raises(ValueError, match="equal level counts"):
        mean_field_size(spaces.MultiDiscrete([2, 3]))


# ---------------------------------------------------------------------------- learners
#: a cooperative matrix game, each agent's payoff against each other agent; the team reward is the
#: mean over ordered pairs. Optimal joint action: everybody plays 2 (payoff 1); (0, 0, ...) is a
#: worse coordinated outcome (0.5); miscoordination pays 0.
PAYOFF = np.array([[0.5, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 1.0]])


def matrix_reward(joint: np.ndarray) -> float:
    a = joint.reshape(-1).astype(int)
    n = a.size
    return float(sum(PAYOFF[a[i], a[j]] for i in range(n) for j in range(n) if i != j)
                 / (n * (n - 1)))


ONE_SHOT = dict(gamma=0.0, batch_size=64, learning_starts=64, buffer_size=4000, lr=1e-2,
                actor_lr=1e-2, hidden_sizes=(32,))


@pytest.mark.parametrize("algorithm, extra", [
    (MFQ, {"temperature_start": 0.5, "temperature_end": 0.05, "temperature_anneal_steps": 300}),
    (MFAC, {"entropy_coef": 0.01}),
])
def test_matrix_game_reaches_the_optimal_joint_action(algorithm, extra):
    env = OneShotTeamGame(4, spaces.Discrete(3), matrix_reward)
    learner = algorithm(env, MeanFieldConfig(**ONE_SHOT, **extra), seed=0)
    train(learner, env, 600)
    obs, _ = env.reset()
    greedy = learner.act(obs, explore=False)
    assert [int(greedy[a]) for a in env.possible_agents] == [2, 2, 2, 2]
    assert matrix_reward(np.array(list(greedy.values()))) == 1.0


def test_mfq_temperature_is_applied_when_exploring():
    env = OneShotTeamGame(3, spaces.Discrete(3), matrix_reward)
    hot = MFQ(env, MeanFieldConfig(temperature_start=100.0, temperature_end=100.0), seed=0)
    cold = MFQ(env, MeanFieldConfig(temperature_start=1e-4, temperature_end=1e-4), seed=0)
    obs, _ = env.reset()
    hot_actions = {int(hot.act(obs)["agent_0"]) for _ in range(60)}
    cold_actions = {int(cold.act(obs)["agent_0"]) for _ in range(60)}
    assert hot_actions == {0, 1, 2}  # nearly uniform at a high temperature
    assert cold_actions == {int(cold.act(obs, explore=False)["agent_0"])}  # greedy at T -> 0


def allocation_welfare(joint: np.ndarray) -> float:
    """``sum_i (x_i - x_i^2 / 2) - (sum_i x_i)^2 / 4``; optimum ``x_i = 1 / (1 + N / 2)``."""
    x = joint.reshape(-1)
    return float(np.sum(x - x ** 2 / 2) - x.sum() ** 2 / 4)


def test_deterministic_mf_actor_critic_reaches_the_allocation_optimum():
    n = 3
    env = OneShotTeamGame(n, spaces.Box(0.0, 1.0, (1,), np.float32), allocation_welfare)
    config = MeanFieldConfig(**ONE_SHOT, noise_start=0.4, noise_end=0.05, noise_anneal_steps=600,
                             histogram_bins=5)
    learner = MFDDPG(env, config, seed=0)
    train(learner, env, 1000)
    obs, _ = env.reset()
    greedy = np.array([learner.act(obs, explore=False)[a][0] for a in env.possible_agents])
    optimum = 1.0 / (1.0 + n / 2)
    np.testing.assert_allclose(greedy, optimum, atol=0.05)
    assert allocation_welfare(greedy) >= 0.99 * allocation_welfare(np.full(n, optimum))


def test_independent_learners_have_no_mean_field_input():
    env = OneShotTeamGame(3, spaces.Discrete(3), matrix_reward)
    with_mf = MFQ(env, MeanFieldConfig(), seed=0)
    without = MFQ(env, MeanFieldConfig(use_mean_field=False), seed=0)
    assert with_mf.q_network[0].in_features == 2 + 3
    assert without.q_network[0].in_features == 2


@pytest.mark.parametrize("algorithm, space", [
    (MFQ, spaces.MultiDiscrete([7, 7, 7])), (MFAC, spaces.Discrete(3)),
    (MFDDPG, spaces.Box(0.0, 1.0, (2,), np.float32))])
def test_save_load_round_trip_gives_the_same_actions_and_updates(tmp_path, algorithm, space):
    env = OneShotTeamGame(3, space, lambda joint: float(np.sum(joint)))
    config = MeanFieldConfig(batch_size=16, learning_starts=16, hidden_sizes=(16,))
    learner = algorithm(env, config, seed=3)
    train(learner, env, 20)
    path = tmp_path / "learner.npz"
    learner.save(path)
    clone = algorithm(env, config, seed=99)
    clone.load(path)
    obs, _ = env.reset()
    for explore in (False, True, True):
        a, b = learner.act(obs, explore), clone.act(obs, explore)
        for agent in env.possible_agents:
            np.testing.assert_array_equal(a[agent], b[agent])
    train(learner, env, 3)
    train(clone, env, 3)
    assert learner.update() == clone.update()
    for name, module in learner._modules().items():
        for p, q in zip(module.parameters(), clone._modules()[name].parameters()):
            assert torch.equal(p, q)


def test_same_seed_same_run_bit_for_bit():
    env = OneShotTeamGame(3, spaces.Discrete(3), matrix_reward)
    runs = []
    for _ in range(2):
        learner = MFAC(env, MeanFieldConfig(**ONE_SHOT), seed=5)
        train(learner, env, 100)
        runs.append(np.concatenate([p.detach().numpy().ravel() for p in learner.actor.parameters()]))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_bad_arguments_raise_clear_errors(tmp_path):
    env = OneShotTeamGame(2, spaces.Discrete(3), matrix_reward)
    with pytest.raises(ValueError, match="gamma"):
        MeanFieldConfig(gamma=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        MeanFieldConfig(batch_size=0)
    with pytest.raises(ValueError, match="unknown"):
        MFQ(env, agents=["nobody"])
    with pytest.raises(ValueError, match="Box"):
        MFDDPG(env)  # discrete actions: MF-DDPG needs Box
    learner = MFQ(env, seed=0)
    obs, _ = env.reset()
    with pytest.raises(ValueError, match="not in"):
        learner.observe(Transition(obs, {"agent_0": 5, "agent_1": 0}, dict.fromkeys(obs, 0.0),
                                   obs, dict.fromkeys(obs, True), dict.fromkeys(obs, False), {}))
    assert learner.buffer.size == 0  # the failed call stored nothing
    other = MFAC(env, seed=0)
    other.save(tmp_path / "mfac.npz")
    before = [p.clone() for p in learner.q_network.parameters()]
    with pytest.raises(ValueError, match="MF-AC"):
        learner.load(tmp_path / "mfac.npz")
    assert all(torch.equal(p, q) for p, q in zip(before, learner.q_network.parameters()))


def test_learners_act_for_the_iov_slicers():
    import auction_envs

    env = auction_envs.make("auction_envs/IoVSlicingLearned-v1", n_vsps=3, max_cycles=4,
                            instance_seed=0)
    base = env.unwrapped
    learner = MFQ(env, MeanFieldConfig(batch_size=8, learning_starts=8), seed=0)
    assert learner.agents == base.slicers
    obs, _ = env.reset(seed=0)
    while env.agents:
        actions = learner.act(obs)
        assert all(actions[a].shape == (3,) for a in base.slicers)
        actions.update({a: np.array([x], np.float32)
                        for a, x in zip(base.vsps, base.equilibrium()["bids"])})
        next_obs, rewards, terms, truncs, infos = env.step(actions)
        learner.observe(Transition(obs, actions, rewards, next_obs, terms, truncs, infos))
        learner.update()
        obs = next_obs
    # the learner's realised mean field is the env's others_mean_action of the same round
    layout = base.layouts["slicer"]
    np.testing.assert_allclose(learner.mean_field_estimate[0],
                               layout.unpack(obs["slicer_0"])["others_mean_action"], atol=1e-6)


def test_previous_reward_baseline_stores_differences_within_an_episode():
    env = OneShotTeamGame(2, spaces.Discrete(3), matrix_reward)
    learner = MFQ(env, MeanFieldConfig(gamma=0.0, reward_baseline="previous"), seed=0)
    obs, _ = env.reset()
    actions = {a: 0 for a in obs}

    def observe(reward: float, last: bool) -> None:
        learner.observe(Transition(obs, actions, dict.fromkeys(obs, reward), obs,
                                   dict.fromkeys(obs, False), dict.fromkeys(obs, last), {}))

    observe(1.0, False)  # first round of the episode: no previous reward, not stored
    assert learner.buffer.size == 0
    observe(3.0, True)  # stored as 3 - 1; the truncation ends the episode
    observe(5.0, False)  # first round of the next episode: not stored
    np.testing.assert_array_equal(learner.buffer.data["reward"][: learner.buffer.size, 0],
                                  [2.0, 2.0])
    with pytest.raises(ValueError, match="reward_baseline"):
        MeanFieldConfig(gamma=0.9, reward_baseline="previous")


def test_explore_probability_leaves_the_others_greedy():
    env = OneShotTeamGame(3, spaces.Discrete(3), matrix_reward)
    hot = dict(temperature_start=100.0, temperature_end=100.0)
    rarely = MFQ(env, MeanFieldConfig(**hot, explore_probability=1e-9), seed=0)
    obs, _ = env.reset()
    greedy = rarely.act(obs, explore=False)
    assert all(rarely.act(obs) == greedy for _ in range(30))
    half = MFQ(env, MeanFieldConfig(**hot, explore_probability=0.5), seed=0)
    deviations = [sum(int(half.act(obs)[a]) != int(greedy[a]) for a in obs) for _ in range(200)]
    # each agent explores w.p. 1/2 and then deviates w.p. about 2/3: about 1 of 3 per round
    assert 0.7 < np.mean(deviations) < 1.3
    with pytest.raises(ValueError, match="explore_probability"):
        MeanFieldConfig(explore_probability=0.0)


@pytest.mark.parametrize("name, env_id", [
    ("DVCG-MFMARL", "auction_envs/IoVSlicingLearned-v1"),
    ("DVCG-MFQ", "auction_envs/IoVSlicingLearned-v1"),
    ("DVCG-MARL", "auction_envs/IoVSlicingLearned-v1"),
    ("MF-DDPG", "auction_envs/IoVSlicing-v1")])
def test_registered_mean_field_learners_play_a_whole_iov_episode(tmp_path, name, env_id):
    import auction_envs
    from agents.registry import get_learner
    from agents.runner import play_episode

    spec = get_learner(name)
    options, env_kwargs = spec.options(env_id)
    env = auction_envs.make(env_id, n_vsps=3, max_cycles=4, **env_kwargs)
    learner = spec.make(env, 0, **options)
    play_episode(env, learner, seed=0)
    assert env.unwrapped.metrics()["round"] == 4
    learner.save(tmp_path / "team.npz")
    learner.load(tmp_path / "team.npz")
    if name == "DVCG-MARL":
        assert learner.learners[0].mf_input == 0  # independent learners: no mean field
