"""Stable-Baselines3 through SuperSuit, with seeding that actually reaches the env.

SuperSuit's SB3 wrapper forwards ``seed()`` to a vector env that has no ``seed`` method (so
``PPO(..., seed=0)`` crashes) and calls ``reset()`` without the seed (so seeded runs are not
reproducible). :func:`sb3_vec_env` builds the same SuperSuit stack with both fixed. Imports of
SuperSuit and SB3 (which pulls torch) happen inside the function: ``auction_envs`` stays light.
"""

from __future__ import annotations

from typing import Any

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
