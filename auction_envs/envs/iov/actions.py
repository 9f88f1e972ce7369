"""The IoV market's joint action: the VSPs' bids and the slicers' levels as two checked arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from auction_envs.core.actions import all_plain_real
from auction_envs.envs.iov.core import SLICE_LEVELS, K


class JointActions(dict):
    """A validated action dict that also carries the joint arrays the core steps on."""

    def __init__(self, validated: Mapping[str, np.ndarray], bids: np.ndarray,
                 levels: np.ndarray | None) -> None:
        super().__init__(validated)
        self.bids = bids
        self.levels = levels


def fast_joint_actions(actions: Any, agents: frozenset[str], vsps: Sequence[str],
                       slicers: Sequence[str], bid_limit: float) -> JointActions | None:
    """The joint action of every agent checked as two arrays (bids, slicer levels), or ``None``
    when anything is unusual (``MarketEnv.validate_actions`` then names the agent and raises, or
    clips). ``bid_limit``: the float32 upper bound of the bid Box."""
    if not isinstance(actions, Mapping) or len(actions) != len(agents) \
            or actions.keys() != agents:
        return None
    if not all_plain_real(list(actions.values())):
        return None  # bools, strings, complex ...: MarketEnv's strict path rejects them
    try:
        bids = np.array([actions[a] for a in vsps], dtype=np.float64)
        levels = np.array([actions[a] for a in slicers], dtype=np.float64) \
            if slicers else None
    except (TypeError, ValueError, OverflowError):
        return None
    if bids.shape == (len(vsps), 1):
        bids = bids[:, 0]
    if bids.shape != (len(vsps),) or not (bids.min() >= 0.0 and bids.max() <= bid_limit):
        return None  # also NaN (min and max are NaN, every comparison is False)
    if levels is not None:
        if levels.shape != (len(vsps), K) or not (
                (levels >= 0) & (levels < len(SLICE_LEVELS)) & (levels == np.round(levels))).all():
            return None
        levels = levels.astype(np.int64)
    validated = dict(zip(vsps, bids[:, None]))
    if levels is not None:
        validated.update(zip(slicers, levels))
    return JointActions(validated, bids, levels)
