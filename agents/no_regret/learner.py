"""Drive a :mod:`~agents.no_regret.rules` rule through the env contract (a joint :class:`Learner`).

``NoRegretLearner(env, rule, agents=None, seed=0)`` controls ``agents`` (all of the env's by default)
with one vectorized rule (batch of one run). It reads from the env, once: the bid bounds
(``D = high - low``; the env's documented float64 ``action_bounds(agent)`` where it has one, else
the action space's) and the payoff scale (the env's documented ``payoff_range(agent)``, where it
has one; the grid rules Hedge and EXP3 need it to rescale payoffs to [0, 1]); and each round,
exactly the feedback its rule declares: the named keys of ``transition.infos[agent]``, or
``transition.rewards[agent]`` for ``"reward"``. It never reads observations, so it works on any
env whose infos document that feedback.

:class:`Mixture` puts several learners side by side (heterogeneous dynamics: some agents use one
rule, the rest another).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.base import Actions, Observations, Transition, load_state, save_state
from agents.no_regret.rules import BidRule


class NoRegretLearner:
    """A joint learner applying one :class:`BidRule` to a group of agents.

    Args:
        env: the (PettingZoo parallel) env; only its action spaces are read.
        rule: the rule; it is (re)started by this constructor and by :meth:`restart`.
        agents: the agents controlled (default: ``env.possible_agents``).
        seed: seeds the rule's generator (first bids, sampling).
        initial_bids: optional first bids, shape ``(len(agents),)``.
    """

    def __init__(self, env: Any, rule: BidRule, agents: Sequence[str] | None = None, seed: int = 0,
                 initial_bids: np.ndarray | None = None) -> None:
        self.agents = list(env.possible_agents if agents is None else agents)
        spaces = [env.action_space(agent) for agent in self.agents]
        for agent, space in zip(self.agents, spaces):
            if getattr(space, "shape", None) not in ((1,), ()):
                raise ValueError(f"{agent}: no-regret bidders need a scalar Box action space; "
                                 f"got {space!r}")
        unwrapped = getattr(env, "unwrapped", env)
        bounds = getattr(unwrapped, "action_bounds", None)
        if bounds is not None:
            pairs = [bounds(agent) for agent in self.agents]
        else:
            pairs = [(np.asarray(s.low).reshape(-1)[0], np.asarray(s.high).reshape(-1)[0])
                     for s in spaces]
        self.low = np.array([float(low) for low, _ in pairs])
        self.high = np.array([float(high) for _, high in pairs])
        payoff_range = getattr(unwrapped, "payoff_range", None)
        self.reward_range = None if payoff_range is None else tuple(
            np.array(column, dtype=np.float64)
            for column in zip(*(payoff_range(agent) for agent in self.agents)))
        self.rule = rule
        self.seed = seed
        self.restart(seed, initial_bids)

    def restart(self, seed: int | None = None, initial_bids: np.ndarray | None = None) -> None:
        """Forget everything learned and draw new first bids (from ``seed`` if given)."""
        rng = np.random.default_rng(self.seed if seed is None else seed)
        initial = None if initial_bids is None else np.asarray(initial_bids).reshape(1, -1)
        self.rule.reset(1, self.low, self.high, rng, initial, reward_range=self.reward_range)

    # ------------------------------------------------------------------ Learner protocol
    def act(self, observations: Observations, explore: bool = True) -> Actions:
        bids = self.rule.bids(explore)[0]
        return {agent: np.array([bids[j]]) for j, agent in enumerate(self.agents)
                if agent in observations}

    def observe(self, transition: Transition) -> None:
        feedback: dict[str, np.ndarray] = {}
        for key in self.rule.feedback:
            if key == "reward":
                values = [transition.rewards[agent] for agent in self.agents]
            else:
                values = [_info(transition.infos, agent, key) for agent in self.agents]
            feedback[key] = np.asarray(values, dtype=np.float64)[None]
        self.rule.update(feedback)

    def update(self) -> dict[str, float]:
        return {}

    def end_episode(self) -> None:
        """Nothing: the dynamics carry over across episodes (call :meth:`restart` to forget)."""

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.name, "agents": list(self.agents), "state": self.rule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["rule"] != self.rule.name or list(state["agents"]) != self.agents:
            raise ValueError(f"checkpoint is for rule {state['rule']!r} on {state['agents']}, not "
                             f"{self.rule.name!r} on {self.agents}")
        self.rule.load_state_dict(state["state"])

    def save(self, path: str | os.PathLike[str]) -> None:
        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        self.load_state_dict(load_state(path))


def _info(infos: Any, agent: str, key: str) -> Any:
    try:
        return infos[agent][key]
    except KeyError:
        raise KeyError(f"{agent}: the env's infos have no {key!r}, which this learner needs "
                       f"(does the env document it? for Hedge on KellyGame pass "
                       f"counterfactual_grid=K)") from None


class Mixture:
    """Several joint learners on disjoint groups of agents, acting as one learner."""

    def __init__(self, learners: Sequence[Any]) -> None:
        if not learners:
            raise ValueError("Mixture needs at least one learner")
        seen: set[str] = set()
        for learner in learners:
            overlap = seen & set(learner.agents)
            if overlap:
                raise ValueError(f"agents {sorted(overlap)} are in two groups")
            seen |= set(learner.agents)
        self.learners = list(learners)
        self.agents = [agent for learner in self.learners for agent in learner.agents]

    def act(self, observations: Observations, explore: bool = True) -> Actions:
        actions: Actions = {}
        for learner in self.learners:
            actions.update(learner.act(observations, explore))
        return actions

    def observe(self, transition: Transition) -> None:
        for learner in self.learners:
            learner.observe(transition)

    def update(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for index, learner in enumerate(self.learners):
            metrics.update({f"group{index}/{k}": v for k, v in learner.update().items()})
        return metrics

    def end_episode(self) -> None:
        for learner in self.learners:
            learner.end_episode()

    def state_dict(self) -> dict[str, Any]:
        return {f"group{i}": learner.state_dict() for i, learner in enumerate(self.learners)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for i, learner in enumerate(self.learners):
            learner.load_state_dict(state[f"group{i}"])

    def save(self, path: str | os.PathLike[str]) -> None:
        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        self.load_state_dict(load_state(path))
