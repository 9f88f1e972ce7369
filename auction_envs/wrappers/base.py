"""The base of the parallel-env wrappers here: forwards the PettingZoo API to the wrapped market.

A subclass changes what it needs (``action_space`` and ``_to_market`` for the action views, or the
rewards after ``step``) and keeps the rest: agents, observation spaces, ``state``, ``render``,
``unwrapped`` (the market, with its ``metrics()`` and reference solution) and attribute access.
"""

from __future__ import annotations

from typing import Any

from gymnasium import spaces
from pettingzoo import ParallelEnv


class MarketWrapper(ParallelEnv):
    """``env`` unchanged; override :meth:`action_space`, :meth:`_to_market` (one agent's action
    in the wrapper's space -> the market's, raising the market's ``InvalidActionError``) and
    :meth:`_rewards`. Every action is translated before the market sees any, so a bad one
    changes nothing."""

    def __init__(self, env: ParallelEnv) -> None:
        self.env = env
        self.metadata = getattr(env, "metadata", {})
        self.possible_agents = list(env.possible_agents)

    def action_space(self, agent: str) -> spaces.Space:
        return self.env.action_space(agent)

    def observation_space(self, agent: str) -> spaces.Space:
        return self.env.observation_space(agent)

    def _to_market(self, agent: str, action: Any) -> Any:
        return action

    def _rewards(self, rewards: dict[str, float]) -> dict[str, float]:
        return rewards

    @property
    def agents(self) -> list[str]:
        return self.env.agents

    @property
    def unwrapped(self) -> Any:
        return self.env.unwrapped

    @property
    def render_mode(self) -> str | None:
        return getattr(self.env, "render_mode", None)

    def reset(self, seed: int | None = None, options: dict | None = None) -> Any:
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: dict[str, Any]) -> Any:
        market_actions = {agent: self._to_market(agent, action) for agent, action in actions.items()}
        observations, rewards, terminations, truncations, infos = self.env.step(market_actions)
        return observations, self._rewards(rewards), terminations, truncations, infos

    def state(self) -> Any:
        return self.env.state()

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.env, name)
