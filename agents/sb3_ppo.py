"""SB3 PPO with parameter sharing (one policy for every agent), as a joint learner of the board.

    learner = SharedPPO(env, seed=0, episodes=8)   # trains at once, then plays frozen
    actions = learner.act(observations)

LEARNERS.md §6: the off-the-shelf baseline is Stable-Baselines3 PPO over every agent of the
market, each agent one row of the vector env. Markets with a native vector shell (the Kelly game)
train through :func:`auction_envs.wrappers.sb3.sb3_native_vec_env`; the others through SuperSuit
(:func:`auction_envs.wrappers.sb3.sb3_vec_env`) on a copy of the env. Either way the policy acts
in ``Box(-1, 1)`` mapped affinely onto each agent's action box (the SB3 checker's advice), and
the same map turns its deterministic actions into the market's when it plays.

Training happens when the learner is built: ``episodes`` episodes of the env's own length
(``max_cycles``) per agent, i.e. ``episodes x max_cycles x n_agents`` PPO timesteps, so the budget
follows the leaderboard's quick and full episode lengths. Afterwards the learner is frozen:
``observe``/``update`` do nothing and ``act`` is deterministic (the policy's mean), so a board
episode evaluates the trained policy. Seeded (``PPO(seed=...)`` seeds torch, the policy's sampling
and the env's resets), on one CPU thread: runs reproduce bit for bit.
"""

from __future__ import annotations

import copy
import os
import warnings
from typing import Any

import numpy as np

from agents.base import Transition

#: SB3 PPO settings used unless overridden (LEARNERS.md §6.2 SB3 defaults, shorter rollouts so a
#: quick budget holds several updates)
DEFAULT_PPO = {"n_steps": 64, "batch_size": 256, "n_epochs": 4, "learning_rate": 3e-4}


def _unit_box_env(env: Any) -> Any:
    """``env`` (PettingZoo parallel) with every action space ``Box(-1, 1)`` mapped onto its box."""
    from gymnasium import spaces
    from pettingzoo.utils import BaseParallelWrapper

    class UnitBoxActions(BaseParallelWrapper):
        def action_space(self, agent: str) -> spaces.Box:
            box = self.env.action_space(agent)
            return spaces.Box(-1.0, 1.0, box.shape, np.float32)

        def step(self, actions: dict[str, np.ndarray]) -> Any:
            return self.env.step({agent: _to_box(self.env.action_space(agent), action)
                                  for agent, action in actions.items()})

    return UnitBoxActions(env)


def _to_box(box: Any, unit: np.ndarray) -> np.ndarray:
    unit = (np.clip(np.asarray(unit, dtype=np.float64), -1.0, 1.0) + 1.0) / 2.0
    return (box.low + unit * (box.high - box.low)).astype(box.dtype)


def _latest_id(market: str) -> str:
    import auction_envs

    versions = [(int(env_id.rsplit("-v", 1)[1]), env_id) for env_id in auction_envs.list_envs()
                if env_id.rsplit("-v", 1)[0] == market]
    if not versions:
        raise ValueError(f"vector_market must be a registered market; got {market!r}")
    return max(versions)[1]


class SharedPPO:
    """SB3 PPO, one policy shared by every agent of ``env``, trained when built (see the module).

    Args:
        env: the market (a PettingZoo parallel env, not yet reset); every agent must share one
            observation space and one ``Box`` action space.
        seed: seeds PPO (torch, sampling) and the training env's resets.
        episodes: training episodes of ``env.max_cycles`` rounds (>= 1).
        vector_market: the market id without version (``auction_envs/KellyGame``) when the market
            has a native vector shell: training then uses its latest id with ``env``'s
            ``max_cycles`` (the spaces must match ``env``'s); None: SuperSuit on a copy of ``env``.
        num_copies: env copies in the training vector (native: ``num_envs``).
        normalize_reward: wrap the training vector in SB3's ``VecNormalize`` (rewards only).
        ppo: SB3 ``PPO`` keyword arguments over :data:`DEFAULT_PPO`.
    """

    def __init__(self, env: Any, seed: int = 0, episodes: int = 4, vector_market: str | None = None,
                 num_copies: int = 1, normalize_reward: bool = False, **ppo: Any) -> None:
        if isinstance(episodes, bool) or not isinstance(episodes, int) or not 1 <= episodes <= 10**6:
            raise ValueError(f"episodes must be an integer in [1, 1e6]; got {episodes!r}")
        agents = list(env.possible_agents)
        spaces = {(str(env.observation_space(a)), str(env.action_space(a))) for a in agents}
        if len(spaces) != 1:
            raise ValueError(f"SharedPPO needs agents with one observation and action space; "
                             f"{env} has {sorted(spaces)}")
        import torch
        from stable_baselines3 import PPO
        from stable_baselines3.common.vec_env import VecNormalize

        torch.set_num_threads(1)
        self.agents = agents
        self.action_box = env.action_space(agents[0])
        self.episodes = episodes
        self.seed = int(seed)
        rounds = int(env.unwrapped.max_cycles)
        with warnings.catch_warnings():  # neither vector env defines render_mode: SB3 says so
            warnings.filterwarnings("ignore", message=".*render_mode.*")
            vector = self._training_vector(env, vector_market, num_copies, rounds)
        if normalize_reward:
            vector = VecNormalize(vector, norm_obs=False, norm_reward=True)
        settings = {**DEFAULT_PPO, **ppo}
        settings["batch_size"] = min(settings["batch_size"], settings["n_steps"] * vector.num_envs)
        self.timesteps = episodes * rounds * len(agents) * num_copies
        model = PPO("MlpPolicy", vector, seed=self.seed, device="cpu", verbose=0, **settings)
        model.learn(total_timesteps=self.timesteps)
        vector.close()
        self.policy = model.policy  # keep the network only: the learner is frozen from here
        self.policy.set_training_mode(False)

    @staticmethod
    def _training_vector(env: Any, vector_market: str | None, num_copies: int, rounds: int) -> Any:
        """The SB3 vector env PPO trains on: the native vector shell, else SuperSuit on a copy."""
        from auction_envs.wrappers.sb3 import sb3_native_vec_env, sb3_vec_env

        if vector_market is None:
            return sb3_vec_env(_unit_box_env(copy.deepcopy(env)), num_copies=num_copies)
        vector = sb3_native_vec_env(_latest_id(vector_market), num_envs=num_copies,
                                    max_cycles=rounds)
        agent = env.possible_agents[0]
        if vector.observation_space.shape != env.observation_space(agent).shape:
            raise ValueError(f"the native vector of {vector_market} does not match {env}")
        return vector

    def act(self, observations: dict[str, np.ndarray], explore: bool = True) -> dict[str, np.ndarray]:
        """The policy's deterministic actions (frozen: ``explore`` changes nothing)."""
        if not observations:
            return {}
        agents = list(observations)
        unit, _ = self.policy.predict(np.stack([observations[a] for a in agents]),
                                      deterministic=True)
        return {agent: _to_box(self.action_box, unit[k]) for k, agent in enumerate(agents)}

    def observe(self, transition: Transition) -> None:
        """Frozen after training: nothing to learn."""

    def update(self) -> dict[str, float]:
        return {}

    def end_episode(self) -> None:
        """Nothing to reset."""

    def state_dict(self) -> dict[str, Any]:
        return {"policy": {name: tensor.detach().cpu().numpy()
                           for name, tensor in self.policy.state_dict().items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import torch

        self.policy.load_state_dict({name: torch.as_tensor(np.asarray(value))
                                     for name, value in state["policy"].items()})

    def save(self, path: str | os.PathLike[str]) -> None:
        from agents.base import save_state

        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        from agents.base import load_state

        self.load_state_dict(load_state(path, like=self.state_dict()))
