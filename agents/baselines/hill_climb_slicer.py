"""A scripted hill-climbing team of slicers for the IoV slicing market with learned allocation
(``auction_envs/IoVSlicingLearned-v1``, paper 002).

It shows what the market lets a learner reach through the slicers' own action interface, with the
slicer reward as the only feedback: every round one slicer changes one resource by one level
(``+-0.1``, ``+-0.2`` or ``+-0.3``); a change that raised the reward is repeated, one that did not
is undone the next round with the opposite level (``1.1 x 0.9 = 0.99``: close, not exact) and the
reward after the undo is the new reference. The step size shrinks after a run of failures and
grows after a success. It reads the observations by name through the env's layout (``slice``),
never by offset, and uses no market internals (no beta, xi or optimum).

    from agents.baselines.hill_climb_slicer import HillClimbingSlicers
    team = HillClimbingSlicers(env.unwrapped, seed=0)
    actions = team.act(observations)          # slicer_i -> MultiDiscrete level indices
    team.observe(rewards)                     # after env.step
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: the levels of ``SLICE_LEVELS`` (index 3 = no change); read from the env at construction
NO_CHANGE = 3


class HillClimbingSlicers:
    """One scripted search over the whole slicer team (a centralized coordinate search).

    Args:
        env: the unwrapped env (for the agent lists, the action levels and the slicer layout).
        seed: seeds the coordinate and direction choices.
        tolerance: a change counts as an improvement when the reward rose by more than this
            fraction of the reference reward (filters the perturbation noise).
    """

    def __init__(self, env: Any, seed: int = 0, tolerance: float = 1e-5) -> None:
        from auction_envs.envs.iov.core import SLICE_LEVELS  # the action's documented levels

        self.slicers = list(env.slicers)
        self.n = len(self.slicers)
        if self.n == 0:
            raise ValueError("the env has no slicers (allocator='learned' is needed)")
        self.levels = np.asarray(SLICE_LEVELS, dtype=np.float64)
        self.layout = env.layouts["slicer"]
        self.resources = self.layout.field("slice").size
        self.rng = np.random.default_rng(seed)
        self.tolerance = float(tolerance)
        self.reference: float | None = None
        self.move: tuple[int, int, int] | None = None  # (slicer, resource, level index)
        self.pending: str | None = None  # "undo" or "fill": a round whose reward is a new reference
        self.magnitude = 1

    def _inverse(self, index: int) -> int:
        """The level that best undoes ``index``: ``(1 + a)(1 + b)`` closest to 1."""
        product = np.abs(np.log((1 + self.levels[index]) * (1 + self.levels)))
        return int(np.argmin(product))

    def _levels(self) -> np.ndarray:
        return np.full((self.n, self.resources), NO_CHANGE, dtype=np.int64)

    def _fill(self, observations: dict[str, np.ndarray]) -> np.ndarray | None:
        """A common increase of every resource left partly idle (capped actions), or None."""
        first = self.layout.unpack(observations[self.slicers[0]])
        total = first["slice"] + first["others_slice"] * max(self.n - 1, 1)
        idle = total < 1.0 - 1e-4  # float32 observations: ignore rounding
        if not np.any(idle):
            return None
        levels = self._levels()
        for k in np.flatnonzero(idle):
            need = 1.0 / max(total[k], 1e-12) - 1.0
            index = int(np.searchsorted(self.levels, need - 1e-12))
            levels[:, k] = min(index, len(self.levels) - 1)
        return levels

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The slicers' joint action for this round."""
        levels = self._levels()
        if self.reference is not None and self.pending is None:
            fill = self._fill(observations)
            if fill is not None:
                self.pending, self.move = "fill", None
                return dict(zip(self.slicers, fill))
            if self.move is None:
                i, k = int(self.rng.integers(self.n)), int(self.rng.integers(self.resources))
                sign = 1 if self.rng.random() < 0.5 else -1
                self.move = (i, k, NO_CHANGE + sign * self.magnitude)
            i, k, index = self.move
            levels[i, k] = index
        elif self.pending == "undo":
            i, k, index = self.move
            levels[i, k] = self._inverse(index)
        return dict(zip(self.slicers, levels))

    def observe(self, rewards: dict[str, float]) -> None:
        """Feed the slicer reward of the round just played."""
        reward = float(rewards[self.slicers[0]])
        if self.reference is None or self.pending is not None:
            self.reference, self.pending = reward, None
            if self.move is not None and self.pending is None and reward is not None:
                self.move = None
            return
        if reward > self.reference + self.tolerance * abs(self.reference):
            self.reference = reward  # keep the direction, a larger step next round
            self.magnitude = min(self.magnitude + 1, NO_CHANGE)
            i, k, index = self.move
            self.move = (i, k, NO_CHANGE + int(np.sign(index - NO_CHANGE)) * self.magnitude)
            return
        self.pending = "undo"
        self.magnitude = 1
