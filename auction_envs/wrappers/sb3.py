"""Stable-Baselines3 through SuperSuit, with seeding that actually reaches the env.

SuperSuit's SB3 wrapper forwards ``seed()`` to a vector env that has no ``seed`` method (so
``PPO(..., seed=0)`` crashes) and calls ``reset()`` without the seed (so seeded runs are not
reproducible). :func:`sb3_vec_env` builds the same SuperSuit stack with both fixed. Imports of
SuperSuit and SB3 (which pulls torch) happen inside the function: ``auction_envs`` stays light.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pettingzoo import ParallelEnv


def sb3_vec_env(env: ParallelEnv, num_copies: int = 1) -> Any:
    """An SB3 ``VecEnv`` over every agent of ``env`` (one shared policy, parameter sharing).

    Args:
        env: a PettingZoo parallel env whose agents share observation and action spaces.
        num_copies: independent copies of the env stacked in the vector (sequential, in-process).

    Returns:
        A ``stable_baselines3`` ``VecEnv`` with ``num_envs = num_copies * len(env.possible_agents)``;
        ``seed(s)`` (as called by ``PPO(seed=s)``) seeds the next ``reset``.
    """
    import supersuit
    from supersuit.vector.sb3_vector_wrapper import SB3VecEnvWrapper

    class SeededSB3VecEnv(SB3VecEnvWrapper):
        def __init__(self, venv: Any) -> None:
            super().__init__(venv)
            self._next_seed: int | None = None

        def seed(self, seed: int | None = None) -> list[int | None]:
            self._next_seed = seed
            return [seed] * self.num_envs

        def reset(self, seed: int | None = None, options: dict | None = None) -> Any:
            seed = self._next_seed if seed is None else seed
            self._next_seed = None
            observations, self.reset_infos = self.venv.reset(seed=seed, options=options)
            return observations

    vector = supersuit.pettingzoo_env_to_vec_env_v1(env)
    vector = supersuit.concat_vec_envs_v1(vector, num_copies, num_cpus=0, base_class="gymnasium")
    return SeededSB3VecEnv(vector)


def sb3_native_vec_env(env_id: str, num_envs: int = 1, normalize_actions: bool = True,
                       **kwargs: Any) -> Any:
    """An SB3 ``VecEnv`` over the native vector env ``auction_envs.make_vec(env_id, num_envs)``,
    one row per (env, agent): parameter sharing without SuperSuit.

    Args:
        env_id: an id whose market has a vector shell (see :func:`auction_envs.make_vec`).
        num_envs: copies of the market; the VecEnv has ``num_envs * n_agents`` rows.
        normalize_actions: the policy acts in ``[-1, 1]`` mapped affinely onto each agent's Box
            (the one place actions are scaled); False passes actions in the market's units.
        kwargs: constructor arguments of the env.

    Seeding: ``PPO(seed=s)`` calls ``seed(s)``; the next reset seeds copy ``b`` with ``s + b``.
    Ends: SB3 resets a finished env in the same step, so the row's ``infos`` carry
    ``terminal_observation`` and ``TimeLimit.truncated`` (True on truncation, so SB3 bootstraps
    through it, not through a termination).
    """
    from gymnasium import spaces
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    import auction_envs

    venv = auction_envs.make_vec(env_id, num_envs=num_envs, **kwargs)

    class NativeSB3VecEnv(VecEnv):
        def __init__(self) -> None:
            self.venv = venv
            self.n = venv.n_agents
            single = venv.single_action_space
            self._low = np.asarray(venv.action_space.low[0], dtype=np.float64)
            self._high = np.asarray(venv.action_space.high[0], dtype=np.float64)
            action_space = (spaces.Box(-1.0, 1.0, single.shape, np.float32) if normalize_actions
                            else single)
            super().__init__(venv.num_envs * self.n, venv.single_observation_space, action_space)
            self._next_seed: int | None = None
            self._actions: np.ndarray | None = None

        def market_actions(self, actions: np.ndarray) -> np.ndarray:
            """The policy's actions (``[-1, 1]`` with ``normalize_actions``) as market actions:
            what ``agents.adapters.PolicyLearner.from_sb3`` applies to a trained model. Any
            number of whole markets (rows a multiple of ``n_agents``), e.g. one for evaluation."""
            actions = np.asarray(actions, dtype=np.float64)
            markets = actions.reshape(-1, self.n, *self._low.shape[1:])
            if not normalize_actions:
                return markets
            unit = (np.clip(markets, -1.0, 1.0) + 1.0) / 2.0
            return self._low + unit * (self._high - self._low)

        def _market_actions(self, actions: np.ndarray) -> np.ndarray:
            actions = np.asarray(actions, dtype=np.float64).reshape(venv.num_envs, self.n, -1)
            if not normalize_actions:
                return actions
            unit = (np.clip(actions, -1.0, 1.0) + 1.0) / 2.0
            return self._low + unit * (self._high - self._low)

        def reset(self) -> np.ndarray:
            observations, _ = venv.reset(seed=self._next_seed)
            self._next_seed = None
            return observations.reshape(self.num_envs, -1)

        def seed(self, seed: int | None = None) -> list[int | None]:
            self._next_seed = seed
            return [seed] * self.num_envs

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def step_wait(self) -> Any:
            observations, rewards, terminations, truncations, _ = venv.step(
                self._market_actions(self._actions))
            dones = (terminations | truncations).reshape(-1)
            flat = observations.reshape(self.num_envs, -1)
            infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            ended = venv.reset_ended()
            if ended.size:
                fresh = venv._observations().reshape(self.num_envs, -1)
                for row in np.flatnonzero(dones):
                    infos[row] = {"terminal_observation": flat[row].copy(),
                                  "TimeLimit.truncated": bool(truncations.reshape(-1)[row]
                                                              and not terminations.reshape(-1)[row])}
                flat = fresh
            return flat, rewards.reshape(-1).astype(np.float32), dones, infos

        def close(self) -> None:
            venv.close()

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            return [getattr(venv, attr_name)] * len(self._indices(indices))

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            setattr(venv, attr_name, value)

        def env_method(self, method_name: str, *args: Any, indices: Any = None, **kw: Any
                       ) -> list[Any]:
            return [getattr(venv, method_name)(*args, **kw)] * len(self._indices(indices))

        def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
            return [False] * len(self._indices(indices))

        def _indices(self, indices: Any) -> list[int]:
            if indices is None:
                return list(range(self.num_envs))
            return [indices] if isinstance(indices, int) else list(indices)

    return NativeSB3VecEnv()
