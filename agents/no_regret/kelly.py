"""Batched simulation of the repeated Kelly game: many runs of the env's own market at once.

:func:`simulate` plays ``runs`` independent repetitions of a ``KellyGame`` env's market
(``env.unwrapped.core``, a :class:`~auction_envs.envs.kelly.core.KellyCore`) as one set of numpy
arrays of shape ``(runs, n)``, each group of bidders driven by a :mod:`~agents.no_regret.rules`
rule. The round, the feedback, the bid grid and the payoff scale are the env's (nothing here
recomputes them), so a rule seeded alike gives bit-identical trajectories here and through the env
with :class:`~agents.no_regret.NoRegretLearner` (``tests/agents`` checks it). This is what makes
the Table I grid of paper 001 run in seconds.

``feedback="own_group"`` reproduces the hybrid dynamics of the authors' public code (paper 001,
§IV-B): each group's rule is fed the feedback of the game among its own group only (its gradient
and best response ignore the other group's bids), while the market, whose payoffs and residual
are recorded, is the real one with every bid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.no_regret.rules import BidRule

FEEDBACK_MODES = ("faithful", "own_group")


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


def market_of(env: Any) -> Any:
    """The batched market behind a ``KellyGame`` env (its documented ``core``), or ``env`` itself
    when it already is one."""
    unwrapped = getattr(env, "unwrapped", env)
    core = getattr(unwrapped, "core", unwrapped)
    if not hasattr(core, "round") or not hasattr(core, "payoff_range"):
        raise TypeError(f"{env!r} is neither a KellyGame env nor its core")
    return core


def simulate(groups: Sequence[Group], env: Any, rounds: int, runs: int = 1,
             record_bids: bool = False, record_payoff: bool = False,
             initial_bids: np.ndarray | None = None, feedback: str = "faithful") -> Trajectory:
    """Play ``rounds`` rounds of a ``KellyGame`` env's market in ``runs`` independent runs at once.

    Args:
        groups: disjoint groups covering the env's ``n`` bidders (by index).
        env: a ``KellyGame`` env (``auction_envs.make(...)``) or its ``unwrapped.core``.
        rounds: number of rounds played (the env's ``max_cycles``).
        runs: number of independent runs (batch size).
        record_bids, record_payoff: also keep the ``(rounds, runs, n)`` bids / payoffs.
        initial_bids: optional ``(runs, n)`` first bids (default: each rule draws ``U[eps, c]``).
        feedback: ``"faithful"`` (every rule is fed the real round) or ``"own_group"`` (each rule
            is fed the round of the game among its group only; the authors' hybrid dynamics).
    """
    if feedback not in FEEDBACK_MODES:
        raise ValueError(f"feedback must be one of {FEEDBACK_MODES}; got {feedback!r}")
    market = market_of(env)
    n = market.n
    covered = sorted(int(i) for group in groups for i in group.agents)
    if covered != list(range(n)):
        raise ValueError(f"groups must cover bidders 0..{n - 1} exactly once; got {covered}")
    indices = [np.asarray(group.agents, dtype=np.int64) for group in groups]
    views = [market if feedback == "faithful" else market.subgame(index) for index in indices]
    low = np.full(n, market.eps)
    for group, index in zip(groups, indices):
        start = None if initial_bids is None else np.asarray(initial_bids)[:, index]
        group.rule.reset(runs, low[index], market.budgets[index], np.random.default_rng(group.seed),
                         start, reward_range=market.payoff_range)
        if "counterfactual_payoffs" in group.rule.feedback and (
                market.counterfactual_bids is None
                or market.counterfactual_bids.shape[1] != group.rule.arms):
            raise ValueError(f"{group.rule.name} needs the env made with "
                             f"counterfactual_grid={group.rule.arms}")

    residual = np.empty((rounds, runs))
    bids_log = np.empty((rounds, runs, n)) if record_bids else None
    payoff_log = np.empty((rounds, runs, n)) if record_payoff else None
    bids = np.empty((runs, n))
    for t in range(rounds):
        for group, index in zip(groups, indices):
            bids[:, index] = group.rule.bids(True)
        played = market.round(bids)
        residual[t] = np.linalg.norm(played["best_response"] - bids, axis=-1)
        if bids_log is not None:
            bids_log[t] = bids
        if payoff_log is not None:
            payoff_log[t] = played["payoff"]
        for group, index, view in zip(groups, indices, views):
            seen = played if view is market else view.round(bids[:, index])
            columns = slice(None) if view is not market else index
            group.rule.update({key: _feedback(seen, key)[:, columns] for key in group.rule.feedback})
    return Trajectory(residual=residual, bids=bids_log, payoff=payoff_log)


def _feedback(round_: dict[str, np.ndarray], key: str) -> np.ndarray:
    """A feedback array of a round by the rule's key (``"reward"`` is the own payoff)."""
    return round_["payoff" if key == "reward" else key]
