"""Joint learners for whole IoV envs (every agent acted for), as the registry builds them.

* :func:`iov_slicer_team`: a mean-field learner on the slicers of
  ``auction_envs/IoVSlicingLearned-v1`` (paper 002's NSP agents) with truthful bidders
  (``x_i = u_i(s*_i)``, the env's equilibrium); ``use_mean_field=False`` is DVCG-MARL;
* :func:`iov_bidder_team`: the deterministic mean-field actor-critic on the bidders (Box bids;
  the mean field is the soft histogram of the others' bids), with the slicers, if any, left
  unchanged (level "no change").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import Actions, Observations, ScriptedPolicy
from agents.mean_field.common import MeanFieldConfig
from agents.mean_field.mfac import MFAC
from agents.mean_field.mfddpg import MFDDPG
from agents.mean_field.mfq import MFQ
from agents.no_regret.learner import Mixture

SLICER_ALGORITHMS = {"MF-AC": MFAC, "MF-Q": MFQ}


class _FixedGroup(ScriptedPolicy):
    """Agents that play a fixed rule (truthful bids, or no slicing change); learns nothing."""

    def __init__(self, env: Any, agents: list[str], rule: str) -> None:
        self.env, self.agents, self.rule = env, list(agents), rule

    def act(self, observations: Observations, explore: bool = True) -> Actions:
        if self.rule == "truthful":
            bids = self.env.unwrapped.equilibrium()["bids"]
            index = {a: i for i, a in enumerate(self.env.unwrapped.vsps)}
            return {a: np.array([bids[index[a]]], dtype=np.float32)
                    for a in self.agents if a in observations}
        return {a: np.full(3, 3, dtype=np.int64) for a in self.agents if a in observations}


def _config(config: MeanFieldConfig | dict[str, Any] | None, **defaults: Any) -> MeanFieldConfig:
    if isinstance(config, MeanFieldConfig):
        return config
    return MeanFieldConfig(**{**defaults, **(config or {})})


def iov_slicer_team(env: Any, seed: int = 0, algorithm: str = "MF-AC",
                    **config: Any) -> Mixture:
    """``algorithm`` ("MF-AC" or "MF-Q") on the slicers, truthful bidders; ``config`` are
    :class:`MeanFieldConfig` fields (default reward scale ``1 / 20`` of the welfare)."""
    if algorithm not in SLICER_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(SLICER_ALGORITHMS)}; got {algorithm!r}")
    base = env.unwrapped
    if not base.slicers:
        raise ValueError("the env has no slicers: use allocator='learned' "
                         "(auction_envs/IoVSlicingLearned-v1)")
    learner = SLICER_ALGORITHMS[algorithm](
        env, _config(config, gamma=0.9, reward_scale=1.0 / 20), agents=base.slicers, seed=seed)
    return Mixture([learner, _FixedGroup(env, base.vsps, "truthful")])


def iov_bidder_team(env: Any, seed: int = 0, **config: Any) -> Mixture:
    """MF-DDPG on the bidders (reward: profit, scaled by ``1 / beta_high``); slicers unchanged."""
    base = env.unwrapped
    learner = MFDDPG(env, _config(config, reward_scale=1.0 / base.beta_range[1]),
                     agents=base.vsps, seed=seed)
    groups: list[Any] = [learner]
    if base.slicers:
        groups.append(_FixedGroup(env, base.slicers, "no_change"))
    return Mixture(groups)
