"""The SL memory of DRACO: one reservoir per vehicle (Vitter's algorithm R).

Each vehicle's reservoir holds a uniform sample of *every* (state, best-response action) pair it has
offered, whatever its length: sampling from it weights the t-th best response by 1/t, the fictitious
play average (LEARNERS §4.1, §4.3 (a)).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class GroupedReservoir:
    """``groups`` reservoirs of ``capacity`` rows each of a ``[features]`` input and a ``[targets]``
    target; one insertion per group per call, where ``mask`` is true."""

    def __init__(self, groups: int, capacity: int, features: int, targets: int) -> None:
        if capacity < 1:
            raise ValueError(f"reservoir capacity must be >= 1; got {capacity!r}")
        self.capacity = int(capacity)
        self.inputs = np.zeros((groups, capacity, features), dtype=np.float32)
        self.targets = np.zeros((groups, capacity, targets), dtype=np.float32)
        self.seen = np.zeros(groups, dtype=np.int64)  # items offered so far, per group

    @property
    def filled(self) -> np.ndarray:
        return np.minimum(self.seen, self.capacity)

    def add(self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray,
            rng: np.random.Generator) -> None:
        """Offer ``inputs[g], targets[g]`` to reservoir ``g`` for every ``g`` with ``mask[g]``.

        Item number ``n`` (0-based) of a group goes to slot ``n`` while the reservoir fills, then
        replaces a uniform slot with probability ``capacity / (n + 1)``: every item offered so far
        stays with the same probability ``capacity / N``.
        """
        groups = np.flatnonzero(mask)
        if groups.size == 0:
            return
        n = self.seen[groups]
        draws = rng.integers(0, n + 1)  # one draw per offered item (ignored while filling)
        slots = np.where(n < self.capacity, n, draws)
        keep = slots < self.capacity
        self.inputs[groups[keep], slots[keep]] = inputs[groups[keep]]
        self.targets[groups[keep], slots[keep]] = targets[groups[keep]]
        self.seen[groups] += 1

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
        """``batch`` rows per group, uniformly with replacement from what is filled.

        Returns inputs ``[G, batch, features]``, targets ``[G, batch, targets]`` and the filled
        count per group (a group with nothing filled returns row 0: weight it out).
        """
        filled = self.filled
        index = (rng.random((len(filled), batch)) * np.maximum(filled, 1)[:, None]).astype(np.int64)
        rows = np.arange(len(filled))[:, None]
        return self.inputs[rows, index], self.targets[rows, index], filled

    def state_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs.copy(), "targets": self.targets.copy(),
                "seen": self.seen.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["inputs"].shape != self.inputs.shape:
            raise ValueError(f"reservoir shape {state['inputs'].shape} != {self.inputs.shape}")
        self.inputs = np.array(state["inputs"], dtype=np.float32)
        self.targets = np.array(state["targets"], dtype=np.float32)
        self.seen = np.array(state["seen"], dtype=np.int64)
