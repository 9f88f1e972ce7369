"""The no-regret rules against known answers, through the env and in the batched simulation."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs
from agents.base import Transition
from agents.no_regret import EXP3, Hedge, Mixture, NoRegretLearner, make_rule
from agents.no_regret.kelly import Group, simulate
from agents.runner import play_episode
from auction_envs.oracles.kelly import (
    kelly_best_response,
    kelly_nash_equilibrium,
    kelly_round,
    others_bid,
)

GRADIENT_RULES = ["OGD_F", "OGD_V", "DAQ_F", "DAQ_V", "RRM_F", "RRM_V"]
ALL_RULES = ["BR", *GRADIENT_RULES, "Hedge", "EXP3"]


def _env_kwargs(name: str) -> dict:
    return {"counterfactual_grid": 16} if name == "Hedge" else {}


def _rule(name: str, horizon: int = 3000):
    kwargs = {"arms": 16} if name in ("Hedge", "EXP3") else {}
    return make_rule(name, G=1.0, horizon=horizon, **kwargs)


def _play(env, learner, rounds: int, seed: int = 0) -> np.ndarray:
    observations, _ = env.reset(seed=seed)
    bids = []
    for _ in range(rounds):
        actions = learner.act(observations)
        bids.append([actions[agent][0] for agent in env.possible_agents])
        next_observations, rewards, terminations, truncations, infos = env.step(actions)
        learner.observe(Transition(observations, actions, rewards, next_observations,
                                   terminations, truncations, infos))
        observations = next_observations
    return np.array(bids)


@pytest.mark.parametrize("name", ["OGD_F", "OGD_V", "DAQ_F", "DAQ_V", "RRM_V"])
def test_gradient_rules_find_the_maximizer_of_a_concave_function(name):
    # f(z) = -(z - 3)^2 on [1, 10] per coordinate, maximizer 3 (and 10 for the clipped one at 12)
    target = np.array([3.0, 7.5, 12.0])
    rule = make_rule(name, G=20.0, horizon=4000)
    rule.reset(2, np.ones(3), np.full(3, 10.0), np.random.default_rng(0))
    for _ in range(4000):
        rule.update({"gradient": -2.0 * (rule.bids() - target)})
    # DAQ_V's lazy, decaying step approaches slowly (it is the column that never reaches 1e-5)
    tolerance = 0.2 if name == "DAQ_V" else 1e-2
    np.testing.assert_allclose(rule.bids(), np.broadcast_to([3.0, 7.5, 10.0], (2, 3)),
                               atol=tolerance)


def test_best_response_rule_plays_the_closed_form():
    env = auction_envs.make("auction_envs/KellyGameHeterogeneous-v0", n_agents=4)
    learner = NoRegretLearner(env, make_rule("BR"), seed=3)
    observations, _ = env.reset(seed=0)
    first = learner.act(observations)
    _, rewards, term, trunc, infos = env.step(first)
    learner.observe(Transition(observations, first, rewards, observations, term, trunc, infos))
    bids = np.array([first[agent][0] for agent in env.possible_agents])
    s = bids.sum() - bids + 0.1
    a = env.unwrapped.valuations
    closed_form = np.clip((-s + np.sqrt(s * s + 4 * a * s)) / 2, 1.0, 400.0)
    played = learner.act(observations)
    np.testing.assert_allclose([played[agent][0] for agent in env.possible_agents], closed_form,
                               rtol=1e-12)


def test_hedge_regret_is_within_its_bound_on_an_adversarial_sequence():
    arms, horizon = 8, 2000
    rule = Hedge(arms=arms, horizon=horizon)
    rule.reset(1, np.zeros(1), np.ones(1), np.random.default_rng(0), reward_range=(0.0, 1.0))
    rng = np.random.default_rng(1)
    earned, totals = 0.0, np.zeros(arms)
    for t in range(horizon):
        # adversary: pay the arm Hedge currently likes least, plus noise; best arm flips midway
        probabilities = rule.probabilities()[0, 0]
        rewards = rng.uniform(0, 0.3, arms)
        rewards[np.argmin(probabilities)] = 1.0
        rewards[(t < horizon // 2) * 3] += 0.2 * rng.random()
        rewards = np.clip(rewards, 0, 1)
        earned += probabilities @ rewards
        totals += rewards
        rule.update({"counterfactual_payoffs": rewards[None, None]})
    regret = totals.max() - earned
    assert regret <= rule.regret_bound() == pytest.approx(np.sqrt(horizon * np.log(arms) / 2))
    assert regret > -rule.regret_bound()


def test_exp3_expected_regret_is_within_its_bound_on_a_stochastic_sequence():
    arms, horizon = 4, 4000
    means = np.array([0.2, 0.5, 0.8, 0.4])
    regrets = []
    for seed in range(5):
        rule = EXP3(arms=arms, horizon=horizon)
        rule.reset(1, np.zeros(1), np.ones(1), np.random.default_rng(seed), reward_range=(0.0, 1.0))
        rng = np.random.default_rng(100 + seed)
        earned = 0.0
        for _ in range(horizon):
            rule.bids()
            reward = float(rng.random() < means[rule.arm[0, 0]])
            earned += reward
            rule.update({"reward": np.array([[reward]])})
        regrets.append(horizon * means.max() - earned)
    assert np.mean(regrets) <= rule.regret_bound()


class _Poison(dict):
    """Any read of it fails: stands for feedback a bandit learner must never look at."""

    def _fail(self, *args, **kwargs):
        raise AssertionError("a bandit learner read feedback other than its own reward")

    __getitem__ = __iter__ = __len__ = __contains__ = get = items = keys = values = _fail


class _SealedObservations(dict):
    """Says which agents are live, but fails when an observation itself is read."""

    def __getitem__(self, key):
        raise AssertionError("a bandit learner read an observation")

    get = values = items = __getitem__


def test_exp3_reads_only_its_own_reward():
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=3)
    learner = NoRegretLearner(env, EXP3(arms=8, horizon=50), seed=0)
    poison = _Poison()
    for _ in range(50):
        actions = learner.act(_SealedObservations(dict.fromkeys(env.possible_agents)))
        rewards = {agent: -float(actions[agent][0]) for agent in env.possible_agents}
        learner.observe(Transition(poison, actions, rewards, poison, poison, poison, poison))
    assert learner.rule.t == 50


@pytest.mark.parametrize("name", [*GRADIENT_RULES, "BR"])
def test_homogeneous_dynamics_converge_to_the_nash_equilibrium(name):
    env = auction_envs.make("auction_envs/KellyGame-v0")
    learner = NoRegretLearner(env, _rule(name), seed=1)
    bids = _play(env, learner, 3000)
    tolerance = 1.0 if name == "DAQ_V" else 1e-6  # DAQ_V approaches slowly (Table I: never 1e-5)
    np.testing.assert_allclose(bids[-1], env.unwrapped.equilibrium(), atol=tolerance)
    assert env.unwrapped.metrics()["residual"] < (2.0 if name == "DAQ_V" else 1e-5)


@pytest.mark.parametrize("name", ["Hedge", "EXP3"])
def test_grid_learners_approach_the_equilibrium_in_payoff(name):
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=4,
                            **({"counterfactual_grid": 41} if name == "Hedge" else {}))
    low, high = -600.0, 0.0  # payoffs of 4 bidders lie in here
    rule = (Hedge if name == "Hedge" else EXP3)(arms=41, horizon=3000, reward_range=(low, high))
    learner = NoRegretLearner(env, rule, seed=0)
    bids = _play(env, learner, 3000)
    equilibrium = env.unwrapped.equilibrium()
    tail = bids[-500:].mean(axis=0)
    # grid step is 399/40 ~ 10: time-averaged play sits near the equilibrium bid
    assert np.all(np.abs(tail - equilibrium) < (25 if name == "Hedge" else 120))


@pytest.mark.parametrize("name", ALL_RULES)
def test_save_load_round_trip_gives_identical_next_actions(name, tmp_path):
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=3, **_env_kwargs(name))
    learner = NoRegretLearner(env, _rule(name), seed=5)
    _play(env, learner, 17)
    learner.save(tmp_path / "ckpt.npz")
    expected = _continue(env, learner, 10)
    clone = NoRegretLearner(env, _rule(name), seed=99)
    clone.load(tmp_path / "ckpt.npz")
    np.testing.assert_array_equal(_continue(env, clone, 10), expected)


def _continue(env, learner, rounds):
    observations, _ = env.reset(seed=0)
    bids = []
    for _ in range(rounds):
        actions = learner.act(observations)
        bids.append([actions[agent][0] for agent in env.possible_agents])
        next_observations, rewards, terminations, truncations, infos = env.step(actions)
        learner.observe(Transition(observations, actions, rewards, next_observations,
                                   terminations, truncations, infos))
    return np.array(bids)


def test_loading_a_checkpoint_of_another_rule_fails(tmp_path):
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=2)
    NoRegretLearner(env, make_rule("OGD_V")).save(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="checkpoint is for rule"):
        NoRegretLearner(env, make_rule("DAQ_V")).load(tmp_path / "c.npz")


@pytest.mark.parametrize("name", ALL_RULES)
def test_batched_simulation_matches_the_env_bit_for_bit(name):
    env_id = "auction_envs/KellyGameHeterogeneous-v0"
    env = auction_envs.make(env_id, n_agents=5, **_env_kwargs(name))
    learner = NoRegretLearner(env, _rule(name, horizon=200), seed=11)
    through_env = _play(env, learner, 200)
    unwrapped = env.unwrapped
    trajectory = simulate([Group(_rule(name, horizon=200), range(5), seed=11)], unwrapped.core,
                          rounds=200, runs=1, record_bids=True)
    np.testing.assert_array_equal(trajectory.bids[:, 0], through_env)


def test_batched_mixture_matches_the_env_mixture():
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=6)
    agents = env.possible_agents
    learner = Mixture([NoRegretLearner(env, make_rule("BR"), agents[:2], seed=1),
                       NoRegretLearner(env, make_rule("DAQ_F", horizon=300), agents[2:], seed=2)])
    through_env = _play(env, learner, 300)
    trajectory = simulate([Group(make_rule("BR"), range(2), 1),
                           Group(make_rule("DAQ_F", horizon=300), range(2, 6), 2)],
                          env, rounds=300, runs=1, record_bids=True)
    np.testing.assert_array_equal(trajectory.bids[:, 0], through_env)


def test_batch_runs_are_independent_runs():
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=3)
    start = np.random.default_rng(0).uniform(1, 400, size=(4, 3))
    batched = simulate([Group(make_rule("OGD_V"), range(3))], env, rounds=50,
                       runs=4, record_bids=True, initial_bids=start)
    for run in range(4):
        single = simulate([Group(make_rule("OGD_V"), range(3))], env, rounds=50,
                          runs=1, record_bids=True, initial_bids=start[run:run + 1])
        np.testing.assert_array_equal(batched.bids[:, run], single.bids[:, 0])


def test_feedback_matches_the_oracle_and_residual_vanishes_at_the_equilibrium():
    a = np.array([100.0, 80.0, 60.0])
    ne = kelly_nash_equilibrium(a, 400.0, 1.0, 0.1)
    feedback = kelly_round(ne, a, 1.0, np.full(3, 400.0), 0.1)
    np.testing.assert_allclose(feedback["best_response"],
                               kelly_best_response(others_bid(ne, 0.1), a, 1.0, 400.0))
    np.testing.assert_allclose(feedback["best_response"], ne, rtol=1e-12)
    np.testing.assert_allclose(feedback["gradient"], 0.0, atol=1e-10)


def test_hedge_needs_the_documented_counterfactual_feedback():
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=2)  # no counterfactual_grid
    learner = NoRegretLearner(env, Hedge(arms=8), seed=0)
    with pytest.raises(KeyError, match="counterfactual_payoffs"):
        _play(env, learner, 1)


def test_bad_rule_arguments_fail_early():
    with pytest.raises(ValueError):
        make_rule("OGD_F")  # fixed rate without horizon
    with pytest.raises(ValueError):
        make_rule("SGD_V")
    with pytest.raises(ValueError):
        make_rule("OGD_V", G=0.0)


class _Recording:
    """A learner that passes everything through and keeps the bids it played."""

    def __init__(self, learner):
        self.learner, self.bids = learner, []

    def act(self, observations, explore=True):
        actions = self.learner.act(observations, explore)
        self.bids.append([float(actions[agent][0]) for agent in sorted(actions)])
        return actions

    def __getattr__(self, name):
        return getattr(self.learner, name)


@pytest.mark.parametrize("name, tolerance", [("Hedge", 15.0), ("EXP3", 90.0)])
def test_grid_learners_driven_like_the_runner_learn_from_the_envs_payoff_scale(name, tolerance):
    # issue 12: with the old default reward_range=(0, 1) every (negative) Kelly payoff was clipped
    # to 0, so Hedge and EXP3 stayed uniform (late bids about 200 against the NE's 75). The rule
    # gets no range here: NoRegretLearner takes it from env.unwrapped.payoff_range(agent).
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=4,
                            **({"counterfactual_grid": 64} if name == "Hedge" else {}))
    learner = _Recording(NoRegretLearner(env, make_rule(name, horizon=3000), seed=0))
    play_episode(env, learner, seed=0)
    late = np.array(learner.bids[-500:]).mean()
    equilibrium = env.unwrapped.equilibrium()[0]
    assert equilibrium == pytest.approx(75.0, abs=0.01)
    uniform = (1.0 + 400.0) / 2  # what an unlearning grid rule plays on average
    assert abs(late - equilibrium) < tolerance < abs(uniform - equilibrium)


def test_grid_learners_refuse_to_guess_a_payoff_scale():
    rule = Hedge(arms=4)
    with pytest.raises(ValueError, match="needs their range"):
        rule.reset(1, np.zeros(1), np.ones(1), np.random.default_rng(0))
    rule.reset(1, np.zeros(1), np.ones(1), np.random.default_rng(0), reward_range=(-10.0, 0.0))
    assert rule._scaled(np.array([[-5.0]]))[0, 0] == 0.5


def test_learner_reads_payoff_range_and_float64_bounds_from_the_env():
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=3, eps=0.1, c=0.7)
    learner = NoRegretLearner(env, EXP3(arms=8, horizon=10), seed=0)
    np.testing.assert_array_equal(learner.low, 0.1)
    np.testing.assert_array_equal(learner.high, 0.7)
    low, high = env.unwrapped.payoff_range("bidder_0")
    np.testing.assert_array_equal(learner.rule.scale_low, low)
    np.testing.assert_array_equal(learner.rule.scale_high, high)


def test_own_group_feedback_plays_each_groups_own_game():
    # the authors' hybrid dynamics: BR in two groups, each responding to its own group only,
    # converges to the Nash equilibrium of each group's game as if the other did not bid
    env = auction_envs.make("auction_envs/KellyGameHeterogeneous-v0", n_agents=6)
    core = env.unwrapped.core
    trajectory = simulate([Group(make_rule("BR"), range(2), 1), Group(make_rule("BR"), range(2, 6), 2)],
                          env, rounds=200, runs=2, record_bids=True, feedback="own_group")
    for index in (np.arange(2), np.arange(2, 6)):
        own = kelly_nash_equilibrium(core.valuations[index], core.budgets[index], core.eps,
                                     core.delta)
        np.testing.assert_allclose(trajectory.bids[-1][:, index], np.broadcast_to(own, (2, own.size)),
                                   rtol=1e-9)
    assert np.all(trajectory.residual[-1] > 1.0)  # the real market is far from its NE
    faithful = simulate([Group(make_rule("BR"), range(6), 1)], env, rounds=50, runs=2,
                        record_bids=True)
    single = simulate([Group(make_rule("BR"), range(6), 1)], env, rounds=50, runs=2,
                      record_bids=True, feedback="own_group")
    np.testing.assert_array_equal(faithful.bids, single.bids)  # one group: the same dynamics
    with pytest.raises(ValueError, match="feedback"):
        simulate([Group(make_rule("BR"), range(6))], env, rounds=1, feedback="mine")
