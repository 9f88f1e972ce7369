"""Batched simulation of the repeated Kelly game: many runs at once with the oracle's pure functions.

:func:`simulate` plays ``runs`` independent repetitions of the game in one set of numpy arrays of
shape ``(runs, n)``, each group of bidders driven by a :mod:`~agents.no_regret.rules` rule. The
feedback (:func:`kelly_feedback`) is computed with the same oracle calls, in the same order, as
``KellyGameEnv``'s infos, so a rule seeded alike gives bit-identical trajectories here and through
the env with :class:`~agents.no_regret.NoRegretLearner` (``tests/agents`` checks it). This is what
makes the Table I grid of paper 001 run in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agents.no_regret.rules import BidRule
from auction_envs.mechanisms import proportional_allocation
from auction_envs.oracles.kelly import (
    alpha_fair_value,
    kelly_best_response,
    kelly_gradient,
    kelly_payoff,
    others_bid,
)


def kelly_valuations(n: int, a: float = 100.0, gamma: float = 0.0, a_min: float = 1.0
                     ) -> np.ndarray:
    """``a_i = max(a - (i - 1) gamma, a_min)``, as ``KellyGameEnv`` builds them."""
    return np.maximum(np.full(n, float(a)) - np.arange(n) * gamma, a_min)


def kelly_feedback(bids: np.ndarray, a: np.ndarray, eps: float, c: np.ndarray, delta: float,
                   alpha: float = 1.0, grid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The env's per-agent infos for bids of shape ``(..., n)``, as arrays of that shape.

    Keys ``bid, others_bid, allocation, payoff, gradient, best_response`` (and, with ``grid`` of
    shape ``(n, K)``, ``counterfactual_payoffs`` of shape ``(..., n, K)``); ``reward`` = ``payoff``.
    """
    others = others_bid(bids, delta)
    allocation = proportional_allocation(bids, delta)
    payoff = alpha_fair_value(allocation, a, alpha) - bids
    feedback = {
        "bid": bids,
        "others_bid": others,
        "allocation": allocation,
        "payoff": payoff,
        "reward": payoff,
        "gradient": kelly_gradient(bids, others, a, alpha),
        "best_response": kelly_best_response(others, a, eps, c, alpha),
    }
    if grid is not None:
        feedback["counterfactual_payoffs"] = kelly_payoff(grid, others[..., None], a[:, None], alpha)
    return feedback


@dataclass
class Group:
    """Bidders ``agents`` (indices) driven by ``rule``, its generator seeded by ``seed``."""

    rule: BidRule
    agents: Sequence[int]
    seed: int = 0


@dataclass
class Trajectory:
    """What :func:`simulate` records, round by round (round 0 = the first bids)."""

    residual: np.ndarray  #: ``||BR(z_t) - z_t||``, shape ``(T, runs)``
    bids: np.ndarray | None = None  #: shape ``(T, runs, n)``
    payoff: np.ndarray | None = None  #: shape ``(T, runs, n)``

    def first_below(self, tolerance: float = 1e-5) -> np.ndarray:
        """Per run, the first round whose residual is ``<= tolerance`` (NaN if none)."""
        below = self.residual <= tolerance
        first = below.argmax(axis=0).astype(np.float64)
        first[~below.any(axis=0)] = np.nan
        return first


def simulate(groups: Sequence[Group], a: np.ndarray, c: float | np.ndarray, eps: float,
             delta: float, rounds: int, runs: int = 1, alpha: float = 1.0,
             record_bids: bool = False, record_payoff: bool = False,
             initial_bids: np.ndarray | None = None) -> Trajectory:
    """Play ``rounds`` rounds of the Kelly game in ``runs`` independent runs at once.

    Args:
        groups: disjoint groups covering the ``n = len(a)`` bidders.
        a, c, eps, delta, alpha: the game (as ``KellyGameEnv``); ``c`` scalar or per bidder.
        rounds: number of rounds played (the env's ``max_cycles``).
        runs: number of independent runs (batch size).
        record_bids, record_payoff: also keep the ``(rounds, runs, n)`` bids / payoffs.
        initial_bids: optional ``(runs, n)`` first bids (default: each rule draws ``U[eps, c]``).
    """
    a = np.asarray(a, dtype=np.float64)
    n = a.size
    c = np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)).copy()
    covered = sorted(i for group in groups for i in group.agents)
    if covered != list(range(n)):
        raise ValueError(f"groups must cover bidders 0..{n - 1} exactly once; got {covered}")
    indices = [np.asarray(group.agents, dtype=np.int64) for group in groups]
    grid = np.zeros((n, 0))
    for group, index in zip(groups, indices):
        start = None if initial_bids is None else np.asarray(initial_bids)[:, index]
        group.rule.reset(runs, np.full(index.size, eps), c[index],
                         np.random.default_rng(group.seed), start)
        if "counterfactual_payoffs" in group.rule.feedback:
            grid = np.zeros((n, group.rule.arms))
    need_grid = grid.shape[1] > 0
    if need_grid:
        grid = eps + (c - eps)[:, None] * np.linspace(0.0, 1.0, grid.shape[1])

    residual = np.empty((rounds, runs))
    bids_log = np.empty((rounds, runs, n)) if record_bids else None
    payoff_log = np.empty((rounds, runs, n)) if record_payoff else None
    bids = np.empty((runs, n))
    for t in range(rounds):
        for group, index in zip(groups, indices):
            bids[:, index] = group.rule.bids(True)
        feedback = kelly_feedback(bids, a, eps, c, delta, alpha, grid if need_grid else None)
        residual[t] = np.linalg.norm(feedback["best_response"] - bids, axis=-1)
        if bids_log is not None:
            bids_log[t] = bids
        if payoff_log is not None:
            payoff_log[t] = feedback["payoff"]
        for group, index in zip(groups, indices):
            group.rule.update({key: feedback[key][:, index] for key in group.rule.feedback})
    return Trajectory(residual=residual, bids=bids_log, payoff=payoff_log)
