"""A single-agent Gymnasium view of a one-agent PettingZoo ``ParallelEnv``.

``SingleAgentGymEnv(env)`` exposes the only agent's spaces; ``step(action)`` returns that agent's
``(observation, reward, terminated, truncated, info)``. It passes Gymnasium's ``check_env`` for the
exchange economy's mechanism view (``auction_envs/ExchangeEconomyMechanismGym-v0``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv


class SingleAgentGymEnv(gymnasium.Env):
    """Gymnasium ``Env`` over the single agent of a parallel env.

    Args:
        env: a ``ParallelEnv`` with exactly one possible agent, or a factory ``(**kwargs) -> env``
            (``env_kwargs`` are passed to it, ``render_mode`` included).
    """

    def __init__(self, env: ParallelEnv | Callable[..., ParallelEnv], render_mode: str | None = None,
                 **env_kwargs: Any) -> None:
        if not isinstance(env, ParallelEnv):
            env = env(render_mode=render_mode, **env_kwargs)
        if len(env.possible_agents) != 1:
            raise ValueError(f"SingleAgentGymEnv needs a one-agent env; got {env.possible_agents}")
        self.env = env
        self.agent = env.possible_agents[0]
        self.observation_space = env.observation_space(self.agent)
        self.action_space = env.action_space(self.agent)
        self.render_mode = getattr(env, "render_mode", None)
        self.metadata = {**getattr(env, "metadata", {}), "render_modes": list(
            getattr(env, "metadata", {}).get("render_modes", []))}

    @property
    def unwrapped_market(self) -> ParallelEnv:
        return self.env

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        observations, infos = self.env.reset(seed=seed, options=options)
        return observations[self.agent], infos.get(self.agent, {})

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        observations, rewards, terminations, truncations, infos = self.env.step({self.agent: action})
        observation = observations.get(self.agent)
        if observation is None:  # the episode ended: PettingZoo returns no observation
            observation = self._final_observation()
        return (observation, float(rewards[self.agent]), bool(terminations[self.agent]),
                bool(truncations[self.agent]), infos.get(self.agent, {}))

    def _final_observation(self) -> np.ndarray:
        state = getattr(self.env, "state", None)
        if state is not None:
            try:
                observation = np.asarray(state(), dtype=self.observation_space.dtype)
                if observation.shape == self.observation_space.shape:
                    return observation
            except NotImplementedError:
                pass
        return np.zeros(self.observation_space.shape, dtype=self.observation_space.dtype)

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()
