"""Approximate best responses and NashConv for markets without a closed-form best response.

NashConv of a joint policy ``pi`` is ``sum_i max_{pi'_i} [R_i(pi'_i, pi_-i) - R_i(pi)]``, with
``R_i`` agent ``i``'s expected episode return. The Kelly game, the exchange economies and the IoV
bidders have exact (or grid-exact) best responses (:mod:`auction_envs.oracles.kelly`,
:func:`auction_envs.oracles.exchange.ce_loss`, ``IoVSlicingEnv.bidder_nash_conv``). The V2X
offloading market and the cloud double auction have none: their best response is a policy of a
long stochastic game. :func:`approximate_nash_conv` searches a documented finite family ``D`` of
*deviation policies* for each agent against the others' frozen policies:

1. **Warm-up and baseline.** Per seed, the env is reset and the frozen joint policy plays
   ``warmup`` steps (so deviations start from the congested market the policy reaches, not from
   empty queues); that state (env, its random generator, the policy) is the seed's *start*. Every
   evaluation below continues a deep copy of it to the end of the episode and counts the returns
   from there; the baseline is the frozen policy's continuation (every agent's return at once).
2. **Search.** For each searched agent ``i`` and each deviation ``d`` in ``D``, agent ``i`` plays
   ``d`` while every other agent keeps ``pi`` (the frozen joint policy still computes every
   action; only ``i``'s is replaced), from the start of each *search seed*. ``d``'s search gain
   is the mean over those seeds of ``R_i(d, pi_-i; s) - R_i(pi; s)``, paired on the same seed
   ``s``: **common random numbers**, the same state, arrivals and draws of the env and of the
   policy until the deviation first changes an action. (In these markets one changed action soon
   reshuffles the env's later draws, so the pairing removes the start's variance, not all.)
3. **Held-out evaluation.** The best deviation ``d*_i`` (none when no deviation gains on the search
   seeds: agent ``i``'s gain is then 0) is replayed on the *evaluation seeds*, again paired with
   the baseline on each seed. Picking the best of noisy means and scoring it on the same episodes
   would overstate the gain (the winner's curse); scored on fresh seeds it is unbiased for the
   chosen deviation.
4. **NashConv** per evaluation seed is ``scale * sum_i gain_i(s)`` with ``scale = n / k`` when only
   ``k`` of the ``n`` agents are searched (a uniformly sampled subset: unbiased for the sum over
   all agents). The result is its mean over evaluation seeds with the standard error and a 95%
   t-interval over those seeds.

What it estimates: the gain of the best deviation *in the family*, so a lower bound (in
expectation) of the true NashConv; 0 means no deviation of the family pays, not an equilibrium.
The held-out estimate can fall slightly below 0 by noise (the chosen deviation did worse on fresh
seeds). Passing the search seeds as evaluation seeds gives the in-sample value instead: exactly
``scale * sum_i max(0, max_d search gain)``, what an exhaustive payoff-matrix solver computes on
those seeds (the tests use that).

Cost: ``|seeds|`` warm-ups and ``|seeds| + k |D| |search seeds| + k |eval seeds|`` continuations
(fewer when an agent has no gaining deviation). The families and budgets of each market:
:func:`v2x_deviations`, :func:`cloud_deviations` and :data:`BUDGETS`.

Reference solutions and tolerances (``tests/oracles/test_best_response_oracle.py``): neither
market has a known equilibrium, so the references are (1) the pure equilibrium of the restricted
game (every agent limited to the deviation grid) found by an independent brute-force payoff matrix
on small markets (2 providers; 2 vehicles on capacity 2): in-sample the oracle's NashConv equals
the matrix's regret to 1e-9 relative, 0 at the equilibrium and positive at perturbed profiles; on
held-out seeds the equilibrium's 95% interval contains 0 while a perturbed profile's lies above
0; (2) passive V2X vehicles (submit at once, a fixed price) in an uncontended market, where no
price changes anything and holding only costs: exactly 0 on held-out seeds, and clearly positive
when the vehicles hold back instead.

numpy only: policies are plain callables (``observations dict -> actions dict``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Observations = Mapping[str, np.ndarray]
Actions = dict[str, np.ndarray]
JointPolicy = Callable[[Observations], Mapping[str, Any]]


@dataclass(frozen=True)
class Deviation:
    """A deviation policy of one agent: ``act(observation, action)`` returns the agent's action,
    given its observation and the action its frozen policy would have played."""

    name: str
    act: Callable[[np.ndarray, np.ndarray], np.ndarray]


def constant_deviation(name: str, action: Any) -> Deviation:
    """Play ``action`` every step, whatever the observation."""
    fixed = np.asarray(action, dtype=np.float32)
    return Deviation(name, lambda observation, action: fixed)


@dataclass(frozen=True)
class OracleBudget:
    """How much one oracle call plays: episode length, seeds, searched agents."""

    rounds: int  #: steps per oracle episode after the warm-up (where the returns count)
    warmup: int  #: steps of the frozen joint policy before any deviation
    search_seeds: int  #: episodes per deviation in the search
    eval_seeds: int  #: held-out episodes for the chosen deviations
    agents: int | None  #: agents searched (a sampled subset), None: every agent
    points: int  #: grid points per action dimension of the market's deviation family

    @property
    def max_cycles(self) -> int:
        """The length of the oracle's env: warm-up plus counted rounds."""
        return self.warmup + self.rounds

    def seeds(self, seed: int) -> tuple[list[int], list[int]]:
        """Search and evaluation seeds of an oracle call for run ``seed`` (disjoint, and disjoint
        from the run's own training seed ``seed``)."""
        base = 7_919 * (int(seed) + 1)
        search = [base + k for k in range(self.search_seeds)]
        held_out = [base + 1_000 + k for k in range(self.eval_seeds)]
        return search, held_out


#: oracle budgets per market and leaderboard mode. Quick: sized so the quick grid stays a few
#: minutes on 2 cores (3 warm-ups and about 15 short continuations per run, two held-out seeds:
#: a wide t-interval per run; the row's interval over the run seeds is the one to read). Full:
#: about 110 (V2X, 500 steps) and 110 (cloud, 100 steps) continuations per run, three held-out
#: seeds each
BUDGETS: dict[str, dict[str, OracleBudget]] = {
    "v2x": {"quick": OracleBudget(rounds=80, warmup=100, search_seeds=1, eval_seeds=2, agents=2,
                                  points=1),
            "full": OracleBudget(rounds=500, warmup=200, search_seeds=2, eval_seeds=3, agents=6,
                                 points=4)},
    "cloud": {"quick": OracleBudget(rounds=30, warmup=24, search_seeds=1, eval_seeds=2, agents=2,
                                    points=4),
              "full": OracleBudget(rounds=100, warmup=36, search_seeds=2, eval_seeds=3,
                                   agents=None, points=6)},
}


def _check_seeds(name: str, seeds: Iterable[int]) -> list[int]:
    try:
        values = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be integers; got {seeds!r}") from None
    if not values:
        raise ValueError(f"{name} must hold at least one seed; got {seeds!r}")
    if any(s < 0 for s in values):
        raise ValueError(f"{name} must be >= 0; got {values}")
    return values


@dataclass
class _Start:
    """An episode's state after its warm-up: the env, the frozen policy and the observations."""

    env: Any
    policy: JointPolicy
    observations: dict[str, np.ndarray]


def _warm_start(env: Any, make_policy: Callable[[], JointPolicy], seed: int, warmup: int,
                reset_options: Mapping[str, Any] | None) -> _Start:
    """Reset ``env`` with ``seed``, play ``warmup`` steps with a fresh frozen policy and keep a
    copy of that state (``env`` itself goes on to the next seed)."""
    import copy

    policy = make_policy()
    observations, _ = env.reset(seed=int(seed), options=dict(reset_options or {}))
    for _ in range(warmup):
        observations, *_ = env.step(dict(policy(observations)))
    return _Start(*copy.deepcopy((env, policy, observations)))


def continuation_returns(start: _Start, deviator: str | None = None,
                         deviation: Deviation | None = None) -> dict[str, float]:
    """Every agent's return from ``start`` to the end of the episode, played on a copy of it (the
    env, its random state and the policy's): the frozen joint policy, ``deviator`` playing
    ``deviation`` instead if given. Copies of one start replay the same random draws until the
    deviation first changes an action (common random numbers)."""
    import copy

    env, policy, observations = copy.deepcopy((start.env, start.policy, start.observations))
    totals = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:  # bounded: every market truncates after max_cycles
        actions = dict(policy(observations))
        if deviator is not None and deviator in observations:
            actions[deviator] = deviation.act(observations[deviator], actions.get(deviator))
        observations, rewards, _, _, _ = env.step(actions)
        for agent, reward in rewards.items():
            totals[agent] += float(reward)
    return totals


def approximate_nash_conv(env: Any, make_policy: Callable[[], JointPolicy],
                          deviations: Sequence[Deviation], search_seeds: Iterable[int],
                          eval_seeds: Iterable[int], agents: int | Sequence[str] | None = None,
                          sample_seed: int = 0, reset_options: Mapping[str, Any] | None = None,
                          warmup: int = 0) -> dict[str, Any]:
    """NashConv of the frozen joint policy against ``deviations`` (see the module docstring).

    Args:
        env: the market (its ``max_cycles`` sets the oracle's episode length); reset per episode.
        make_policy: returns a fresh frozen joint policy (``observations -> actions``) per episode.
        deviations: the family searched for every agent (at least one).
        search_seeds, eval_seeds: env seeds of the search and of the held-out evaluation.
        agents: the agents searched: names, a count ``k`` (``k`` sampled with ``sample_seed``), or
            None for every agent.
        reset_options: passed to every ``reset`` (e.g. the cloud's ``{"new_population": True}``).
        warmup: steps every episode plays with the frozen joint policy before any deviation; the
            returns count from there (the gain of deviating from the state the policy reaches,
            not from the empty market). Played once per seed: each evaluation continues a copy.

    Returns:
        ``nash_conv`` (mean over evaluation seeds), ``stderr``, ``ci95`` (t-interval),
        ``per_seed``, ``scale``, per agent the chosen ``deviation`` with its ``search_gain`` and
        ``eval_gain``, and the ``episodes`` played.
    """
    deviations = list(deviations)
    if not deviations or not all(isinstance(d, Deviation) for d in deviations):
        raise ValueError(f"deviations must be a non-empty list of Deviation; got {deviations!r}")
    search = _check_seeds("search_seeds", search_seeds)
    held_out = _check_seeds("eval_seeds", eval_seeds)
    everyone = list(env.possible_agents)
    searched = _pick_agents(agents, everyone, sample_seed)
    scale = len(everyone) / len(searched)
    horizon = int(env.unwrapped.max_cycles)
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or \
            not 0 <= warmup < horizon:
        raise ValueError(f"warmup must be an integer in [0, {horizon}) (the env's max_cycles); "
                         f"got {warmup!r}")
    starts = {seed: _warm_start(env, make_policy, seed, int(warmup), reset_options)
              for seed in dict.fromkeys(search + held_out)}
    baseline = {seed: continuation_returns(start) for seed, start in starts.items()}
    episodes = len(baseline)

    per_agent: dict[str, dict[str, Any]] = {}
    gains = np.zeros((len(searched), len(held_out)))
    for row, agent in enumerate(searched):
        search_gains = []
        for deviation in deviations:
            diffs = [continuation_returns(starts[s], agent, deviation)[agent] - baseline[s][agent]
                     for s in search]
            episodes += len(search)
            search_gains.append(float(np.mean(diffs)))
        best = int(np.argmax(search_gains))
        entry: dict[str, Any] = {"deviation": None, "search_gain": max(search_gains[best], 0.0),
                                 "eval_gain": 0.0}
        if search_gains[best] > 0.0:
            chosen = deviations[best]
            gains[row] = [continuation_returns(starts[s], agent, chosen)[agent]
                          - baseline[s][agent] for s in held_out]
            episodes += len(held_out)
            entry.update(deviation=chosen.name, eval_gain=float(gains[row].mean()))
        per_agent[agent] = entry
    per_seed = scale * gains.sum(axis=0)
    mean, stderr, low, high = _t_interval(per_seed)
    return {"nash_conv": mean, "stderr": stderr, "ci95": [low, high],
            "per_seed": per_seed.tolist(), "eval_seeds": held_out, "search_seeds": search,
            "warmup": int(warmup),
            "scale": scale, "agents": per_agent, "deviations": [d.name for d in deviations],
            "episodes": episodes}


def _pick_agents(agents: int | Sequence[str] | None, everyone: list[str],
                 sample_seed: int) -> list[str]:
    if agents is None:
        return everyone
    if isinstance(agents, (int, np.integer)) and not isinstance(agents, bool):
        if not 1 <= agents <= len(everyone):
            raise ValueError(f"agents must be between 1 and {len(everyone)} (the env's agents); "
                             f"got {agents}")
        picked = np.random.default_rng(sample_seed).choice(len(everyone), int(agents),
                                                            replace=False)
        return [everyone[k] for k in sorted(picked)]
    names = list(agents)
    unknown = [a for a in names if a not in everyone]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"agents must be distinct agents of the env {everyone}; got {agents!r}")
    return names


def _t_interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, standard error and 95% t-interval (the interval is the mean alone for one value)."""
    from scipy import stats

    mean = float(values.mean())
    if values.size < 2:
        return mean, math.nan, mean, mean
    stderr = float(values.std(ddof=1) / math.sqrt(values.size))
    half = float(stats.t.ppf(0.975, values.size - 1)) * stderr
    return mean, stderr, mean - half, mean + half


# ---------------------------------------------------------------------------- market families
def v2x_deviations(points: int = 3) -> list[Deviation]:
    """Deviations of one V2X vehicle (action ``(alpha, b)``: backoff decision, price as a share of
    the budget): *submit at once at a fixed share* ``b`` for ``points`` shares evenly spaced in
    ``(0, 1]`` (``alpha = 1``, never held; ``points = 1``: the whole budget), and three relative
    ones: *always submit at the own price* (``alpha = 1``, the policy's ``b``), *double* and
    *halve the own price* (``b -> min(1, 2 b)``, ``b / 2``, the policy's ``alpha``)."""
    points = _check_points(points)
    family = [constant_deviation(f"submit@{b:.2f}", [1.0, b])
              for b in np.linspace(1.0 / points, 1.0, points)]
    family.append(Deviation("submit@own", lambda obs, action: np.array(
        [1.0, action[1]], dtype=np.float32)))
    family.append(Deviation("own@2x", lambda obs, action: np.array(
        [action[0], min(1.0, 2.0 * float(action[1]))], dtype=np.float32)))
    family.append(Deviation("own@0.5x", lambda obs, action: np.array(
        [action[0], 0.5 * float(action[1])], dtype=np.float32)))
    return family


def cloud_deviations(env: Any, points: int = 5) -> list[Deviation]:
    """Deviations of one cloud provider: one *fixed markup* for every buyer slot, ``points``
    markups evenly spaced over the action box ``[multiplier_low, multiplier_high]``."""
    points = _check_points(points)
    space = env.action_space(env.possible_agents[0])
    low, high = float(space.low.min()), float(space.high.max())
    return [constant_deviation(f"markup {g:.3g}", np.full(space.shape, g, dtype=np.float32))
            for g in np.linspace(low, high, points)]


def _check_points(points: int) -> int:
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or not \
            1 <= points <= 1000:
        raise ValueError(f"points must be an integer in [1, 1000]; got {points!r}")
    return int(points)


def market_nash_conv(market: str, env: Any, make_policy: Callable[[], JointPolicy],
                     budget: OracleBudget, seed: int) -> dict[str, Any]:
    """:func:`approximate_nash_conv` with the family and reset options of ``market`` (``"v2x"``
    or ``"cloud"``) and the seeds of ``budget`` for run ``seed``; ``env`` must be built with
    ``max_cycles = budget.max_cycles``."""
    if market == "v2x":
        deviations, options = v2x_deviations(budget.points), None
    elif market == "cloud":
        # a fresh buyer population per seed: the buyers' history must not depend on what the env
        # played before
        deviations, options = cloud_deviations(env, budget.points), {"new_population": True}
    else:
        raise ValueError(f"market must be 'v2x' or 'cloud'; got {market!r}")
    search, held_out = budget.seeds(seed)
    result = approximate_nash_conv(env, make_policy, deviations, search, held_out,
                                   agents=budget.agents, sample_seed=seed, reset_options=options,
                                   warmup=budget.warmup)
    return {**result, "budget": {"rounds": budget.rounds, "warmup": budget.warmup,
                                 "search_seeds": budget.search_seeds,
                                 "eval_seeds": budget.eval_seeds, "agents": budget.agents,
                                 "points": budget.points}}


__all__ = ["BUDGETS", "Deviation", "OracleBudget", "approximate_nash_conv", "cloud_deviations",
           "constant_deviation", "continuation_returns", "market_nash_conv", "v2x_deviations"]
