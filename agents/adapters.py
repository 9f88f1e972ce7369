"""Policies trained elsewhere (Stable-Baselines3, RLlib, TorchRL, your own) as a :class:`Learner`,
so :func:`agents.runner.evaluate` reports the market's own metrics for them.

    from agents.adapters import PolicyLearner
    from agents.runner import evaluate
    learner = PolicyLearner.from_sb3(model)                  # a trained SB3 model (shared policy)
    print(evaluate(learner, "auction_envs/KellyGame-v0", seed=0, episodes=5))

Any callable ``predict(observations [k, obs_dim]) -> actions [k, *action_shape]`` works
(``PolicyLearner(predict)``), one row per agent it controls (parameter sharing), e.g. for an RLlib
``RLModule`` or a TorchRL actor: wrap its forward pass in a numpy function. The adapter only
acts: ``observe`` / ``update`` do nothing, and ``save`` / ``load`` belong to the framework.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agents.base import Actions, Observations, Transition


class PolicyLearner:
    """A shared policy ``predict`` acting for ``agents`` (all agents in the observations when
    None); ``predict_explore`` (default ``predict``) is used when ``explore=True``."""

    def __init__(self, predict: Callable[[np.ndarray], Any], agents: Sequence[str] | None = None,
                 predict_explore: Callable[[np.ndarray], Any] | None = None) -> None:
        if not callable(predict):
            raise TypeError(f"predict must be callable; got {type(predict).__name__}")
        self.predict = predict
        self.predict_explore = predict_explore or predict
        self.agents = None if agents is None else [str(a) for a in agents]

    @classmethod
    def from_sb3(cls, model: Any, agents: Sequence[str] | None = None) -> PolicyLearner:
        """A Stable-Baselines3 model trained with parameter sharing (one row per agent, e.g.
        through ``auction_envs.wrappers.sb3``): deterministic actions, sampled when exploring.
        A model trained on ``sb3_native_vec_env`` (or on ``sb3_vec_env`` over a
        ``NormalizeMarket``) acts in ``[-1, 1]``: its env's ``market_actions`` maps the actions
        back onto the market's boxes; a ``VecNormalize`` in between normalizes the observations
        with its current statistics first."""
        # walk the model's VecEnv wrappers: observation normalizers (VecNormalize) on the way to
        # the vector env that knows the market's action units (``market_actions``)
        layer, normalizers = model.get_env(), []
        while layer is not None and not hasattr(type(layer), "market_actions"):
            if hasattr(type(layer), "normalize_obs"):
                normalizers.append(layer.normalize_obs)
            layer = getattr(layer, "venv", None)
        to_market = None if layer is None else layer.market_actions

        def predict(deterministic: bool) -> Callable[[np.ndarray], Any]:
            def run(obs: np.ndarray) -> Any:
                for normalize in reversed(normalizers):  # innermost wrapper first
                    obs = normalize(obs)
                actions = model.predict(obs, deterministic=deterministic)[0]
                if to_market is None:
                    return actions
                # the vector env maps a [num_envs * n_agents] batch; one market's agents here
                return np.asarray(to_market(actions)).reshape(np.shape(actions))
            return run

        return cls(predict(True), agents, predict(False))

    def act(self, observations: Observations, explore: bool = True) -> Actions:
        agents = [a for a in (self.agents or list(observations)) if a in observations]
        if not agents:
            return {}
        batch = np.stack([np.asarray(observations[a], dtype=np.float32) for a in agents])
        actions = np.asarray((self.predict_explore if explore else self.predict)(batch))
        if actions.shape[:1] != (len(agents),):
            raise ValueError(f"predict returned actions of shape {actions.shape} for "
                             f"{len(agents)} agents; expected one row per agent")
        return {agent: actions[i] for i, agent in enumerate(agents)}

    def observe(self, transition: Transition) -> None:
        """Nothing: the policy learns in its own framework."""

    def update(self) -> dict[str, float]:
        return {}

    def end_episode(self) -> None:
        """Nothing to reset."""

    def save(self, path: str | os.PathLike[str]) -> None:
        raise NotImplementedError("save the policy with its own framework (e.g. model.save)")

    def load(self, path: str | os.PathLike[str]) -> None:
        raise NotImplementedError("load the policy with its own framework (e.g. PPO.load)")
