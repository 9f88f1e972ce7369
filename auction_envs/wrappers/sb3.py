"""Stable-Baselines3 over the markets: SuperSuit's stack with seeding that reaches the env, and a
native ``VecEnv`` over :func:`auction_envs.make_vec` (recipes: ``docs/recipes/sb3.md``).

SuperSuit's SB3 wrapper (``concat_vec_envs_v1(..., base_class="stable_baselines3")``) forwards
``seed()`` to a ``ConcatVecEnv`` that has no ``seed`` method (so ``PPO(..., seed=0)`` crashes),
calls ``reset()`` without the seed (so seeded runs are not reproducible) and reports no
``TimeLimit.truncated`` (so SB3 treats every truncation as a termination and does not bootstrap
through it). :func:`seeded_supersuit` fixes the three on a stack you built; :func:`sb3_vec_env`
builds the stack and fixes it in one call. Imports of SuperSuit and SB3 (which pulls torch)
happen inside the functions: ``auction_envs`` stays light.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pettingzoo import ParallelEnv


def seeded_supersuit(vec_env: Any) -> Any:
    """SuperSuit's vector env as an SB3 ``VecEnv`` whose seeding and truncations work.

    Args:
        vec_env: the result of ``supersuit.concat_vec_envs_v1(...)`` with
            ``base_class="stable_baselines3"`` (its SB3 wrapper is replaced) or
            ``base_class="gymnasium"``.

    Returns:
        An SB3 ``VecEnv`` over the same envs: ``seed(s)`` (as called by ``PPO(seed=s)``) seeds the
        next ``reset`` (copy ``k`` of ``concat_vec_envs_v1`` gets ``s + k``), and each row's info
        carries ``TimeLimit.truncated`` (True when it was truncated, not terminated).
    """
    from supersuit.vector.sb3_vector_wrapper import SB3VecEnvWrapper

    venv = vec_env.venv if isinstance(vec_env, SB3VecEnvWrapper) else vec_env
    if not hasattr(venv, "vec_envs"):
        raise TypeError(f"seeded_supersuit takes the result of supersuit.concat_vec_envs_v1; got "
                        f"{type(vec_env).__name__}")

    class SeededSB3VecEnv(SB3VecEnvWrapper):
        def __init__(self, inner: Any) -> None:
            super().__init__(inner)
            self._next_seed: int | None = None

        def seed(self, seed: int | None = None) -> list[int | None]:
            self._next_seed = seed
            return [seed] * self.num_envs

        def reset(self, seed: int | None = None, options: dict | None = None) -> Any:
            seed = self._next_seed if seed is None else seed
            self._next_seed = None
            observations, self.reset_infos = self.venv.reset(seed=seed, options=options)
            return observations

        def step_wait(self) -> Any:
            observations, rewards, terminations, truncations, infos = self.venv.step_wait()
            terminated = np.asarray(terminations, dtype=bool)
            truncated = np.asarray(truncations, dtype=bool)
            for row, info in enumerate(infos):
                if "terminal_observation" in info:  # the env ended and was reset in this step
                    info["TimeLimit.truncated"] = bool(truncated[row] and not terminated[row])
            return observations, rewards, terminated | truncated, infos

        def market_actions(self, actions: np.ndarray) -> np.ndarray:
            """The policy's actions (one row per agent, rows cycling over the env's agents) in
            the market's units: through the env's :class:`NormalizeMarket` when it has one
            (what ``agents.adapters.PolicyLearner.from_sb3`` applies), unchanged otherwise."""
            actions = np.asarray(actions)
            normalizer = _normalize_market(self.venv.vec_envs[0].par_env)
            if normalizer is None:
                return actions
            agents = normalizer.possible_agents
            return np.stack([normalizer._to_market(agents[row % len(agents)], action)
                             for row, action in enumerate(actions)])

    return SeededSB3VecEnv(venv)


def _normalize_market(env: Any) -> Any:
    """The :class:`~auction_envs.wrappers.normalize.NormalizeMarket` in ``env``'s wrapper chain,
    or None."""
    from auction_envs.wrappers.normalize import NormalizeMarket

    while env is not None and not isinstance(env, NormalizeMarket):
        env = getattr(env, "env", None)
    return env


def sb3_vec_env(env: ParallelEnv, num_copies: int = 1) -> Any:
    """An SB3 ``VecEnv`` over every agent of ``env`` (one shared policy, parameter sharing):
    SuperSuit's ``pettingzoo_env_to_vec_env_v1`` and ``concat_vec_envs_v1``, through
    :func:`seeded_supersuit`.

    Args:
        env: a PettingZoo parallel env whose agents share observation and action spaces.
        num_copies: independent copies of the env stacked in the vector (sequential, in-process).

    Returns:
        A ``stable_baselines3`` ``VecEnv`` with ``num_envs = num_copies * len(env.possible_agents)``;
        ``seed(s)`` (as called by ``PPO(seed=s)``) seeds the next ``reset``.

    Raises:
        ValueError: when the agents' spaces differ (e.g. ``IoVSlicingLearned-v1``: VSP bidders and
            slicers), naming them; one shared policy cannot act for both kinds.
    """
    import supersuit

    kinds: list[tuple[Any, Any, list[str]]] = []  # (observation space, action space, agents)
    for agent in env.possible_agents:
        spaces_of = (env.observation_space(agent), env.action_space(agent))
        kind = next((k for k in kinds if (k[0], k[1]) == spaces_of), None)
        if kind is None:
            kinds.append((*spaces_of, [agent]))
        else:
            kind[2].append(agent)
    if len(kinds) > 1:
        groups = "; ".join(f"{agents[0]}..{agents[-1]} ({len(agents)} agents): observation "
                           f"{obs.shape}, action {act}" for obs, act, agents in kinds)
        raise ValueError(f"sb3_vec_env shares one policy over agents with one observation and "
                         f"action space; {len(kinds)} kinds here: {groups}")
    vector = supersuit.pettingzoo_env_to_vec_env_v1(env)
    vector = supersuit.concat_vec_envs_v1(vector, num_copies, num_cpus=0, base_class="gymnasium")
    return seeded_supersuit(vector)


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
            if attr_name == "render_mode":  # asked by VecEnv.__init__; the shells do not render
                return [getattr(venv, attr_name, None)] * len(self._indices(indices))
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
