"""The default ``rgb_array`` render of ``MarketEnv``: a bar chart of the last step's rewards."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def reward_bars(rewards: Mapping[str, float], agents: Sequence[str]) -> np.ndarray:
    """A ``[240, W, 3]`` uint8 bar chart of ``rewards``, one bar per agent of ``agents``.

    Bars rise (green) or fall (red) from the middle line, scaled by the largest absolute reward;
    agents without a reward (not live, or before the first step) have no bar.
    """
    height, bar, gap = 240, 12, 4
    agents = list(agents)
    width = max(240, len(agents) * (bar + gap) + gap)
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    middle = height // 2
    image[middle, :] = 128
    values = np.array([rewards.get(agent, 0.0) for agent in agents], dtype=np.float64)
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    if scale > 0 and np.isfinite(scale):
        extent = np.rint(values / scale * (middle - 4)).astype(int)
        for index, length in enumerate(extent):
            left = gap + index * (bar + gap)
            if length > 0:
                image[middle - length:middle, left:left + bar] = (46, 139, 87)
            elif length < 0:
                image[middle + 1:middle + 1 - length, left:left + bar] = (200, 60, 60)
    return image
