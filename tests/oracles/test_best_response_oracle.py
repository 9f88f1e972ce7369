"""The approximate best-response oracle of the V2X and cloud markets: it agrees exactly with an
independent brute-force solver of the restricted game (payoff matrix over the deviation grid),
gives 0 at the reference solutions and a positive NashConv at perturbed ones on held-out seeds,
and keeps its common random numbers exact."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

from auction_envs.envs.cloud.env import PROVIDER_TABLE, CloudDoubleAuctionEnv
from auction_envs.envs.v2x.env import V2XOffloadingEnv
from auction_envs.oracles.best_response import (
    BUDGETS,
    Deviation,
    approximate_nash_conv,
    cloud_deviations,
    constant_deviation,
    market_nash_conv,
    v2x_deviations,
)

NEW_POPULATION = {"new_population": True}


def _constant_profile(env, actions):
    """make_policy for the joint policy 'agent k always plays actions[k]'."""
    joint = {agent: np.asarray(a, dtype=np.float32) for agent, a in zip(env.possible_agents,
                                                                        actions)}
    return lambda: (lambda observations: dict(joint))


def _payoffs(env, grid, seeds, options=None):
    """Brute force, independent of the oracle: every agent's mean return (over ``seeds``) at every
    profile of constant actions from ``grid``."""
    n = len(env.possible_agents)
    table = {}
    for profile in itertools.product(range(len(grid)), repeat=n):
        totals = np.zeros(n)
        for seed in seeds:
            env.reset(seed=seed, options=options)
            while env.agents:
                _, rewards, *_ = env.step({a: np.asarray(grid[k], dtype=np.float32)
                                           for a, k in zip(env.possible_agents, profile)})
                totals += [rewards[a] for a in env.possible_agents]
        table[profile] = totals / len(seeds)
    return table


def _regret(table, profile, n_actions):
    """NashConv of ``profile`` in the restricted game: sum_i max(0, max_g U_i(g, -i) - U_i)."""
    total = 0.0
    for i in range(len(profile)):
        best = max(table[(*profile[:i], g, *profile[i + 1:])][i] for g in range(n_actions))
        total += max(0.0, best - table[profile][i])
    return total


def _small_cloud():
    return CloudDoubleAuctionEnv(providers=PROVIDER_TABLE[:2], max_buyers=6, max_cycles=15)


def _check_against_brute_force(env, grid, deviations, seeds, options):
    table = _payoffs(env, grid, seeds, options)
    regrets = {p: _regret(table, p, len(grid)) for p in table}
    equilibria = [p for p, r in regrets.items() if r == 0.0]
    assert equilibria, "the restricted game of the test has a pure equilibrium"
    worst = max(regrets, key=regrets.get)
    for profile in (equilibria[0], worst):
        found = approximate_nash_conv(env, _constant_profile(env, [grid[k] for k in profile]),
                                      deviations, seeds, seeds, reset_options=options)
        # in-sample (eval seeds = search seeds): exactly the brute-force regret
        assert found["nash_conv"] == pytest.approx(regrets[profile], rel=1e-9, abs=1e-9)
    assert regrets[worst] > 0.0
    return equilibria[0], worst


def test_cloud_search_equals_the_brute_force_restricted_game():
    env = _small_cloud()
    deviations = cloud_deviations(env, points=3)  # markups 0, 0.5, 1 for every buyer slot
    grid = [np.full(6, g) for g in (0.0, 0.5, 1.0)]
    equilibrium, _ = _check_against_brute_force(env, grid, deviations, [0, 1], NEW_POPULATION)
    assert equilibrium == (2, 1)  # d1 at markup 1, d2 at 0.5 on these seeds


def test_v2x_search_equals_the_brute_force_restricted_game():
    # two vehicles on capacity 2: contended, so the actions matter
    env = V2XOffloadingEnv(n_vehicles=2, capacity=2.0, max_cycles=60)
    grid = [(1.0, 0.2), (1.0, 1.0), (0.3, 0.6)]
    deviations = [constant_deviation(str(a), a) for a in grid]
    _check_against_brute_force(env, grid, deviations, [0, 1], None)


def test_cloud_held_out_zero_at_the_equilibrium_positive_when_perturbed():
    env = _small_cloud()
    deviations = cloud_deviations(env, points=3)
    search, held_out = [10, 11, 12], list(range(20, 26))

    def nash_conv(markups):
        return approximate_nash_conv(env, _constant_profile(env, [np.full(6, g) for g in markups]),
                                     deviations, search, held_out, reset_options=NEW_POPULATION)

    reference, perturbed = nash_conv((1.0, 0.5)), nash_conv((0.0, 0.0))
    low, high = reference["ci95"]
    assert low <= 0.0 <= high  # no deviation gains significantly on fresh seeds
    assert abs(reference["nash_conv"]) < 0.1 * perturbed["nash_conv"]
    assert perturbed["ci95"][0] > 0.0  # both providers gain by raising their markup
    assert {entry["deviation"] for entry in perturbed["agents"].values()} == {"markup 1"}


def test_v2x_uncontended_passive_is_unexploitable_holding_back_is_not():
    # 3 vehicles on capacity 100: every request is admitted at price 0, so submitting at once (the
    # passive policy) is a best response: no price changes anything, holding only costs
    env = V2XOffloadingEnv(n_vehicles=3, capacity=100.0, max_cycles=60)
    deviations = v2x_deviations(points=3)
    search, held_out = [3, 4], list(range(5, 11))
    passive = approximate_nash_conv(env, _constant_profile(env, [(1.0, 0.375)] * 3), deviations,
                                    search, held_out)
    assert passive["nash_conv"] == 0.0 and passive["per_seed"] == [0.0] * 6
    assert all(entry["deviation"] is None for entry in passive["agents"].values())
    hesitant = approximate_nash_conv(env, _constant_profile(env, [(0.3, 0.375)] * 3), deviations,
                                     search, held_out)
    assert hesitant["ci95"][0] > 0.0
    assert all(entry["deviation"].startswith("submit@") for entry in hesitant["agents"].values())


class _SeededRandomPolicy:
    def __init__(self, env, seed):
        self.spaces = {a: env.action_space(a) for a in env.possible_agents}
        self.rng = np.random.default_rng(seed)

    def __call__(self, observations):
        return {a: self.rng.uniform(self.spaces[a].low, self.spaces[a].high).astype(np.float32)
                for a in observations}


def test_common_random_numbers_make_the_null_deviation_exactly_zero():
    env = _small_cloud()
    policy = _SeededRandomPolicy(env, seed=3)
    keep = Deviation("keep", lambda observation, action: action)
    result = approximate_nash_conv(env, lambda: copy.deepcopy(policy), [keep], [0], [1, 2],
                                   reset_options=NEW_POPULATION)
    assert result["nash_conv"] == 0.0
    assert all(entry["search_gain"] == 0.0 for entry in result["agents"].values())


def test_agent_sampling_scales_the_sum_and_budgets_pick_disjoint_seeds():
    env = V2XOffloadingEnv(n_vehicles=4, capacity=100.0, max_cycles=40)
    hesitant = _constant_profile(env, [(0.3, 0.375)] * 4)
    deviations = [constant_deviation("submit", (1.0, 0.375))]
    every = approximate_nash_conv(env, hesitant, deviations, [1], [2])
    two = approximate_nash_conv(env, hesitant, deviations, [1], [2], agents=2, sample_seed=0)
    assert two["scale"] == 2.0 and len(two["agents"]) == 2
    picked = sum(every["agents"][a]["eval_gain"] for a in two["agents"])
    assert two["nash_conv"] == pytest.approx(2.0 * picked)
    for budgets in BUDGETS.values():
        for budget in budgets.values():
            search, held_out = budget.seeds(5)
            assert len(search) == budget.search_seeds and len(held_out) == budget.eval_seeds
            assert not set(search) & set(held_out) and 5 not in search + held_out


def test_market_nash_conv_reports_its_budget_and_error_bar():
    budget = BUDGETS["cloud"]["quick"]
    env = CloudDoubleAuctionEnv(max_cycles=budget.max_cycles)
    result = market_nash_conv("cloud", env, _constant_profile(env, [np.zeros(24)] * 7), budget, 0)
    assert result["budget"]["rounds"] == budget.rounds and len(result["agents"]) == budget.agents
    assert result["warmup"] == budget.warmup
    assert result["ci95"][0] <= result["nash_conv"] <= result["ci95"][1]
    seeds = budget.search_seeds + budget.eval_seeds
    assert result["episodes"] <= seeds + budget.agents * (
        len(result["deviations"]) * budget.search_seeds + budget.eval_seeds)
    assert len(result["per_seed"]) == budget.eval_seeds


def test_deviations_start_after_the_warm_up_and_returns_count_from_there():
    env = V2XOffloadingEnv(n_vehicles=3, capacity=5.0, max_cycles=30)
    calls = []

    def watched(observation, action):
        calls.append(1)
        return np.array([1.0, 1.0], dtype=np.float32)

    policy = _constant_profile(env, [(1.0, 0.3)] * 3)
    result = approximate_nash_conv(env, policy, [Deviation("watched", watched)], [0], [0],
                                   agents=["vehicle_1"], warmup=20)
    assert len(calls) == 10 * (2 if result["agents"]["vehicle_1"]["deviation"] else 1)
    # the continuation's returns are the full episode's minus the warm-up's
    env.reset(seed=0)
    totals = np.zeros(2)
    for step in range(30):
        _, rewards, *_ = env.step({a: np.array([1.0, 0.3], np.float32) for a in env.agents})
        totals[step >= 20] += rewards["vehicle_1"]
    from auction_envs.oracles.best_response import _warm_start, continuation_returns

    start = _warm_start(env, policy, 0, 20, None)
    assert continuation_returns(start)["vehicle_1"] == pytest.approx(totals[1], rel=1e-12)
    with pytest.raises(ValueError, match="warmup must be an integer in \\[0, 30\\)"):
        approximate_nash_conv(env, policy, [Deviation("watched", watched)], [0], [0], warmup=30)


@pytest.mark.parametrize("kwargs, match", [
    ({"deviations": []}, "deviations"),
    ({"search_seeds": []}, "search_seeds"),
    ({"eval_seeds": [-1]}, "eval_seeds"),
    ({"agents": 9}, "agents must be between 1 and 7"),
    ({"agents": ["provider_x"]}, "agents must be distinct agents"),
])
def test_bad_arguments_are_named(kwargs, match):
    env = CloudDoubleAuctionEnv(max_cycles=2)
    arguments = {"deviations": cloud_deviations(env, 2), "search_seeds": [0], "eval_seeds": [1],
                 **kwargs}
    with pytest.raises(ValueError, match=match):
        approximate_nash_conv(env, _constant_profile(env, [np.zeros(24)] * 7), **arguments)
    with pytest.raises(ValueError, match="market must be"):
        market_nash_conv("kelly", env, _constant_profile(env, [np.zeros(24)] * 7),
                         BUDGETS["cloud"]["quick"], 0)
    with pytest.raises(ValueError, match="points"):
        v2x_deviations(0)
