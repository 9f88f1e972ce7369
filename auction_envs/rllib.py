"""RLlib: every market as a registered RLlib multi-agent env, one RLModule per agent kind.

RLlib (new API stack: RLModule, Learner, EnvRunner, ConnectorV2; the default in ray 2.60) runs a
PettingZoo parallel env through its ``ParallelPettingZooEnv``. :func:`register` registers a market
under an RLlib env name in one call; :func:`policies` gives the module ids and the
``policy_mapping_fn`` that map every agent to the module of its kind (the groups of
:func:`auction_envs.wrappers.torchrl.agent_groups`: ``bidder``, ``vsp`` and ``slicer``,
``provider``, ``vehicle``, ``trader``, ``mechanism``), so agents of one kind share one module.
:func:`evaluate` plays seeded episodes with the trained modules (deterministic actions) and returns
the returns and the market's ``metrics()``.

    from ray.rllib.algorithms.ppo import PPOConfig
    from auction_envs import rllib

    name = rllib.register("auction_envs/KellyGame-v0", n_agents=4, max_cycles=100)
    module_ids, mapping = rllib.policies("auction_envs/KellyGame-v0", n_agents=4)
    config = (PPOConfig().environment(name)
              .multi_agent(policies=module_ids, policy_mapping_fn=mapping)
              .env_runners(num_env_runners=0).debugging(seed=0))
    algorithm = config.build_algo()
    algorithm.train()
    returns, metrics = rllib.evaluate(algorithm, "auction_envs/KellyGame-v0", seed=0,
                                      n_agents=4, max_cycles=100)
    metrics[-1]["distance_to_equilibrium"]      # the market's metrics after the episode

Needs the ``rllib`` extra (``pip install -e ".[rllib]"``); ray is imported only when a function here
is called, so ``import auction_envs`` works without it. The recipe is docs/recipes/rllib.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

import auction_envs
from auction_envs.wrappers.base import MarketWrapper
from auction_envs.wrappers.normalize import NormalizeMarket
from auction_envs.wrappers.torchrl import agent_groups


def default_name(env_id: str) -> str:
    """The RLlib env name :func:`register` uses for ``env_id``: the id itself."""
    return env_id


class ScaleObservations(MarketWrapper):
    """``env`` with every observation divided by ``scale``: one number, or one per entry of the
    observation (RLlib's default MLP has no input normalization, and raw bids and payoffs of
    hundreds saturate its tanh units)."""

    def __init__(self, env: ParallelEnv, scale: float | np.ndarray) -> None:
        super().__init__(env)
        self._spaces: dict[str, spaces.Box] = {}
        self._scales: dict[str, np.ndarray] = {}
        for agent in self.possible_agents:
            space = env.observation_space(agent)
            agent_scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), space.shape)
            if not (np.all(np.isfinite(agent_scale)) and np.all(agent_scale > 0)):
                raise auction_envs.InvalidArgumentError("observation_scale", scale,
                                                        "finite numbers > 0")
            self._scales[agent] = agent_scale
            self._spaces[agent] = spaces.Box((space.low / agent_scale).astype(space.dtype),
                                             (space.high / agent_scale).astype(space.dtype),
                                             space.shape, space.dtype)

    def observation_space(self, agent: str) -> spaces.Space:
        return self._spaces[agent]

    def _scaled(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {agent: (obs / self._scales[agent]).astype(self._spaces[agent].dtype)
                for agent, obs in observations.items()}

    def reset(self, seed: int | None = None, options: dict | None = None) -> Any:
        observations, infos = self.env.reset(seed=seed, options=options)
        return self._scaled(observations), infos

    def step(self, actions: dict[str, Any]) -> Any:
        observations, *rest = self.env.step(actions)
        return (self._scaled(observations), *rest)


def make_env(env_id: str, normalize_rewards: bool = True, observation_scale: float | np.ndarray | None = None,
             **make_kwargs: Any) -> ParallelEnv:
    """The market ``env_id`` (built with ``make_kwargs``), its rewards divided by the documented
    ``reward_scale`` when ``normalize_rewards``, its observations divided by ``observation_scale``
    when given (actions stay raw: RLlib maps its ``[-1, 1]`` outputs onto the Box bounds itself,
    ``normalize_actions=True``). The market and its ``metrics()`` stay on the raw scale
    (``env.unwrapped``)."""
    env = auction_envs.make(env_id, **make_kwargs)
    if normalize_rewards:
        env = NormalizeMarket(env, actions=False, rewards=True)
    return env if observation_scale is None else ScaleObservations(env, observation_scale)


def register(env_id: str, name: str | None = None, *, normalize_rewards: bool = True,
             observation_scale: float | np.ndarray | None = None, **make_kwargs: Any) -> str:
    """Register ``env_id`` with ``ray.tune.registry.register_env`` and return its RLlib name
    (``name``, default the id). The creator builds :func:`make_env` (``make_kwargs`` updated by
    the ``env_config`` RLlib passes, so ``config.environment(name, env_config={...})`` overrides
    them) inside RLlib's ``ParallelPettingZooEnv``, with the market's agent order kept."""
    from ray.tune.registry import register_env

    def create(env_config: dict[str, Any]) -> Any:
        return rllib_env(env_id, normalize_rewards=normalize_rewards,
                         observation_scale=observation_scale, **{**make_kwargs, **dict(env_config)})

    name = name or default_name(env_id)
    register_env(name, create)
    return name


def rllib_env(env_id: str, normalize_rewards: bool = True,
              observation_scale: float | np.ndarray | None = None,
              **make_kwargs: Any) -> Any:
    """:func:`make_env` as RLlib's ``ParallelPettingZooEnv``, its agent lists and space dicts in the
    market's agent order (the wrapper builds them from a set, whose order follows the process's
    hash seed; RLlib's EnvRunner also collects agents in sets, so bit-identical reruns of a seeded
    training need a fixed ``PYTHONHASHSEED`` as well)."""
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    env = ParallelPettingZooEnv(make_env(env_id, normalize_rewards, observation_scale,
                                         **make_kwargs))
    market = env.par_env
    env.agents, env.possible_agents = list(market.agents), list(market.possible_agents)
    env.observation_space = spaces.Dict({agent: market.observation_space(agent)
                                             for agent in market.possible_agents})
    env.action_space = spaces.Dict({agent: market.action_space(agent)
                                        for agent in market.possible_agents})
    return env


def policies(env_id: str, **make_kwargs: Any) -> tuple[set[str], Callable[..., str]]:
    """``(module_ids, policy_mapping_fn)`` for ``config.multi_agent``: one module id per agent kind
    of ``env_id`` (built with ``make_kwargs``; the kinds of ``agent_groups``) and the function
    RLlib calls as ``policy_mapping_fn(agent_id, episode, **kwargs)``."""
    module_of = module_map(auction_envs.make(env_id, **make_kwargs))

    def policy_mapping_fn(agent_id: str, episode: Any = None, **kwargs: Any) -> str:
        return module_of[agent_id]

    return set(module_of.values()), policy_mapping_fn


def module_map(env: ParallelEnv) -> dict[str, str]:
    """``{agent: module id}``: the agent's group in ``agent_groups(env)``."""
    return {agent: group for group, agents in agent_groups(env).items() for agent in agents}


def compute_actions(algorithm: Any, observations: dict[str, np.ndarray],
                    env: ParallelEnv) -> dict[str, np.ndarray]:
    """The deterministic action (the mean of a Gaussian, the mode of a categorical) of every agent
    in ``observations``, from the module of its kind in ``algorithm``, in ``env``'s action space
    (Box outputs mapped from ``[-1, 1]`` onto the bounds, as RLlib's EnvRunner does)."""
    import torch
    from ray.rllib.core.columns import Columns
    from ray.rllib.utils.spaces.space_utils import unsquash_action

    module_of = module_map(env)
    actions: dict[str, np.ndarray] = {}
    for module_id in sorted(set(module_of[agent] for agent in observations)):
        agents = [agent for agent in observations if module_of[agent] == module_id]
        module = algorithm.get_module(module_id)
        batch = torch.as_tensor(np.stack([observations[agent] for agent in agents]),
                                dtype=torch.float32)
        with torch.no_grad():
            inputs = module.forward_inference({Columns.OBS: batch})[Columns.ACTION_DIST_INPUTS]
        distribution = module.get_inference_action_dist_cls().from_logits(inputs)
        chosen = distribution.to_deterministic().sample().numpy()
        for agent, action in zip(agents, chosen):
            actions[agent] = unsquash_action(action, env.action_space(agent))
    return actions


def evaluate(algorithm: Any, env_id: str, *, seed: int, episodes: int = 1,
             normalize_rewards: bool = True, observation_scale: float | np.ndarray | None = None,
             **make_kwargs: Any) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Play ``episodes`` episodes of :func:`make_env` (pass the arguments ``register`` got), reset
    with ``seed``, ``seed + 1``, ..., with :func:`compute_actions`. Returns the mean episodic
    return per agent (on the scale the agents trained on) and ``env.unwrapped.metrics()`` at the
    end of every episode (raw scale), in episode order."""
    env = make_env(env_id, normalize_rewards, observation_scale, **make_kwargs)
    returns = {agent: 0.0 for agent in env.possible_agents}
    metrics = []
    for episode in range(episodes):
        observations, _ = env.reset(seed=seed + episode)
        while env.agents:
            observations, rewards, _, _, _ = env.step(compute_actions(algorithm, observations, env))
            for agent, reward in rewards.items():
                returns[agent] += float(reward) / episodes
        metrics.append(env.unwrapped.metrics())
    env.close()
    return returns, metrics
