"""Some agents of a market played by a fixed policy, the others left to a learner.

``ScriptedAgents(env, policy, agents)`` is the market seen by whoever trains the *other* agents:
its ``possible_agents`` leave out ``agents``, whose actions ``policy`` supplies every step from
their own last observations. Typical uses: the IoV slicers trained against truthful VSP bidders
(one shared policy over the slicers, e.g. SB3 PPO through SuperSuit, which needs every exposed
agent to share one observation and action space), or one provider learning against scripted
competitors.

    from auction_envs.wrappers.scripted import ScriptedAgents
    env = auction_envs.make("auction_envs/IoVSlicingLearned-v1", instance_seed=0)
    slicers_only = ScriptedAgents(env, TruthfulBidders(env.unwrapped), env.unwrapped.vsps)

``policy`` is any object with ``act(observations) -> actions`` (dicts keyed by the scripted
agents, observations as the market returned them) and, optionally, ``reset()``, called on every
``reset`` before the first ``act``. Infos of the scripted agents are dropped with their other
outputs; the market's ``metrics()`` and reference solutions stay on ``unwrapped``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from pettingzoo import ParallelEnv

from auction_envs.wrappers.base import MarketWrapper


class ScriptedPolicy(Protocol):
    """What :class:`ScriptedAgents` calls: ``act`` each step, ``reset`` (optional) each reset."""

    def act(self, observations: dict[str, Any]) -> dict[str, Any]: ...


class ScriptedAgents(MarketWrapper):
    """``env`` without ``agents``, whose actions come from ``policy``.

    Args:
        env: a PettingZoo parallel env.
        policy: acts for ``agents`` (see the module docstring).
        agents: the scripted agents, a subset of ``env.possible_agents`` (not all of them).

    Raises:
        ValueError: an unknown agent, or no agent left to learn.
    """

    def __init__(self, env: ParallelEnv, policy: ScriptedPolicy, agents: Iterable[str]) -> None:
        super().__init__(env)
        scripted = list(dict.fromkeys(agents))
        unknown = [a for a in scripted if a not in env.possible_agents]
        if unknown:
            raise ValueError(f"ScriptedAgents: {unknown} are not agents of the env "
                             f"(possible_agents = {list(env.possible_agents)})")
        self.scripted = scripted
        self.possible_agents = [a for a in env.possible_agents if a not in set(scripted)]
        if not self.possible_agents:
            raise ValueError("ScriptedAgents: every agent is scripted; nothing is left to learn")
        if not callable(getattr(policy, "act", None)):
            raise TypeError(f"ScriptedAgents: policy needs an act(observations) method; got "
                            f"{policy!r}")
        self.policy = policy
        self._scripted_observations: dict[str, Any] = {}

    @property
    def agents(self) -> list[str]:
        return [a for a in self.env.agents if a not in self._scripted_set]

    @property
    def _scripted_set(self) -> set[str]:
        return set(self.scripted)

    def _split(self, outputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        mine = {a: v for a, v in outputs.items() if a not in self._scripted_set}
        theirs = {a: v for a, v in outputs.items() if a in self._scripted_set}
        return mine, theirs

    def reset(self, seed: int | None = None, options: dict | None = None) -> Any:
        observations, infos = self.env.reset(seed=seed, options=options)
        if callable(getattr(self.policy, "reset", None)):
            self.policy.reset()
        observations, self._scripted_observations = self._split(observations)
        return observations, self._split(infos)[0]

    def step(self, actions: dict[str, Any]) -> Any:
        extra = [a for a in actions if a in self._scripted_set]
        if extra:
            raise ValueError(f"ScriptedAgents: {extra} are scripted; their actions come from the "
                             f"policy, not from the caller")
        live = [a for a in self.env.agents if a in self._scripted_set]
        scripted_actions = self.policy.act({a: self._scripted_observations[a] for a in live})
        joint = {**dict(actions), **{a: scripted_actions[a] for a in live}}
        observations, rewards, terminations, truncations, infos = self.env.step(joint)
        observations, self._scripted_observations = self._split(observations)
        return (observations, self._split(rewards)[0], self._split(terminations)[0],
                self._split(truncations)[0], self._split(infos)[0])
