"""The IoV market's joint action: the VSPs' bids and the slicers' levels as two checked arrays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from auction_envs.core.actions import all_plain_real
from auction_envs.envs.iov.core import SLICE_LEVELS, K

_NDARRAY_ONLY = {np.ndarray}
_DTYPE = attrgetter("dtype")
# float dtypes whose item() is a Python float holding the same value (longdouble's is not)
_FLOAT_DTYPES = frozenset(map(np.dtype, (np.float64, np.float32, np.float16)))


class JointActions(dict):
    """A validated action dict that also carries the joint arrays the core steps on."""

    def __init__(self, validated: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]],
                 bids: np.ndarray, levels: np.ndarray | None) -> None:
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
    values = [actions[a] for a in vsps]
    if set(map(type, values)) == _NDARRAY_ONLY and set(map(_DTYPE, values)) <= _FLOAT_DTYPES:
        # the common case, one float array per bidder: checked as Python floats (cheaper than
        # an array first); item() raises unless each holds one number
        try:
            numbers = list(map(np.ndarray.item, values))
        except ValueError:
            return None
        # min/max skip a NaN that is not first, so the sum (NaN with any NaN) checks for one
        total = sum(numbers)
        if not (min(numbers) >= 0.0 and max(numbers) <= bid_limit and total == total):
            return None
        bids = np.array(numbers)  # Python floats: float64, the same values as an astype
        levels = None
        if slicers:
            if not all_plain_real([actions[a] for a in slicers]):
                return None
            try:
                levels = np.array([actions[a] for a in slicers], dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                return None
    else:
        if not all_plain_real(list(actions.values())):
            return None  # bools, strings, complex ...: MarketEnv's strict path rejects them
        try:
            bids = np.array(values, dtype=np.float64)
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
    joint = JointActions(zip(vsps, bids[:, None]), bids, levels)
    if levels is not None:
        joint.update(zip(slicers, levels))
    return joint
