"""The cloud market's constants and argument checks: the provider table of paper 004, the range
checks of ``CloudDoubleAuctionEnv``'s arguments and the cached trace loader."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from auction_envs.core import InvalidArgumentError
from auction_envs.core.checks import MAX_SCALE, check_array, check_int
from auction_envs.envs.cloud.trace import TaskEvents, load_task_events

#: Table 1 of paper 004: processing (MIPS), memory (MB), storage (MB), bandwidth.
PROVIDER_TABLE = np.array([
    [6950, 12032, 26000, 8000],
    [3450, 6144, 84000, 2650],
    [4700, 7168, 48000, 1750],
    [7500, 3840, 30000, 4000],
    [6100, 10752, 60000, 4700],
    [4900, 8704, 47000, 3600],
    [3700, 6144, 36000, 3200],
], dtype=np.float64)
MIN_STEP_SECONDS = 1e-6  #: the trace's timestamps are microseconds: a shorter step is empty


@lru_cache(maxsize=8)
def load_trace(path: str) -> TaskEvents:
    """The task-event trace at ``path``, read once per process (a few traces kept)."""
    return load_task_events(path)


# ---------------------------------------------------------------------------- argument checks
def int_range(name: str, value: Any, minimum: int) -> tuple[int, int]:
    """``(lo, hi)`` integers with ``minimum <= lo <= hi``, or :class:`InvalidArgumentError`."""
    expected = f"a pair (lo, hi) of integers, {minimum} <= lo <= hi"
    try:
        low, high = value
    except (TypeError, ValueError):
        raise InvalidArgumentError(name, value, expected) from None
    try:
        low, high = check_int(name, low, low=minimum), check_int(name, high, low=minimum)
    except InvalidArgumentError:
        raise InvalidArgumentError(name, value, expected) from None
    if low > high:
        raise InvalidArgumentError(name, value, expected)
    return low, high


def price_ranges(value: Any) -> np.ndarray:
    """``base_price_ranges``: three ``(low, high)`` pairs, ``0 < low <= high``."""
    expected = f"three (low, high) pairs with 0 < low <= high <= {MAX_SCALE:g}"
    try:
        ranges = check_array("base_price_ranges", value, shape=(3, 2), low=0.0, low_open=True,
                             high=MAX_SCALE)
    except InvalidArgumentError:
        raise InvalidArgumentError("base_price_ranges", value, expected) from None
    if np.any(ranges[:, 1] < ranges[:, 0]):
        raise InvalidArgumentError("base_price_ranges", value, expected)
    return ranges


def positive_triple(name: str, value: Any) -> np.ndarray:
    """Three positive numbers (one per resource: CPU, memory, storage)."""
    return check_array(name, value, shape=(3,), low=0.0, low_open=True, high=MAX_SCALE)
