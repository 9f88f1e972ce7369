"""The mean field of the others' actions: the one place where it is computed (LEARNERS §3.4, §7.4.9).

For agent ``i`` of a group of ``N`` agents, the mean field ``a-bar_i`` summarizes the actions the
*other* agents took in the same round (Yang et al. 2018, eq. (2) with the neighbourhood = every
other agent of the group, as mlii/mfrl and XuanCe do):

* **discrete actions** (``Discrete(L)``, or ``MultiDiscrete([L] * K)`` read as ``K`` heads of ``L``
  levels): :func:`one_hot_mean`, the mean of the others' one-hot actions per head, i.e. the empirical
  histogram of their choices, ``K * L`` entries (head-major), each head summing to 1;
* **continuous actions** (``Box`` of ``D`` dimensions, in the learner's ``[-1, 1]`` units):
  :func:`soft_histogram`, the mean of the others' *linearly binned* one-hot vectors on ``bins``
  evenly spaced grid points per dimension: a value between two grid points splits its unit mass
  between them in proportion to its distance (a triangular kernel one grid step wide). Each
  dimension sums to 1 and, unlike a hard histogram, the first moment is exact:
  ``sum_b h_b g_b`` equals the others' mean action.

With one agent there are no others: the mean field is all zeros. :func:`mean_field` dispatches on
the action space, so a learner calls it and never builds a summary itself.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces


def discrete_heads(space: spaces.Space) -> tuple[int, int]:
    """``(heads, levels)`` of a discrete action space: ``Discrete(L)`` is ``(1, L)``,
    ``MultiDiscrete([L] * K)`` is ``(K, L)`` (every head must have the same number of levels)."""
    if isinstance(space, spaces.Discrete):
        if int(space.start) != 0:
            raise ValueError(f"Discrete action spaces must start at 0; got start={space.start}")
        return 1, int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec).reshape(-1)
        if nvec.size == 0 or np.any(nvec != nvec[0]) or np.any(np.asarray(space.start) != 0):
            raise ValueError(f"MultiDiscrete action spaces need equal level counts starting at 0; "
                             f"got nvec={space.nvec}")
        return int(nvec.size), int(nvec[0])
    raise TypeError(f"a discrete action space (Discrete or MultiDiscrete) is needed; got {space!r}")


def _others_mean(per_agent: np.ndarray) -> np.ndarray:
    """Row ``i`` = mean of the rows ``j != i`` (zeros for a single agent)."""
    n = per_agent.shape[0]
    if n == 1:
        return np.zeros_like(per_agent)
    return (per_agent.sum(axis=0, keepdims=True) - per_agent) / (n - 1)


def one_hot_mean(actions: np.ndarray, levels: int) -> np.ndarray:
    """The others' mean one-hot action of every agent.

    Args:
        actions: integer actions ``[N]`` (one head) or ``[N, K]`` (``K`` heads), each in
            ``0..levels-1``.
        levels: the number of levels per head.

    Returns:
        ``[N, K * levels]`` float64: row ``i``, block ``k`` is the fraction of the other agents
        that chose each level on head ``k``.
    """
    actions = np.asarray(actions)
    if actions.ndim == 1:
        actions = actions[:, None]
    if actions.ndim != 2 or actions.shape[0] == 0:
        raise ValueError(f"actions must be [N] or [N, K] with N >= 1; got shape {actions.shape}")
    if not np.all(actions == np.round(actions)) or actions.min() < 0 or actions.max() >= levels:
        raise ValueError(f"actions must be integers in 0..{levels - 1}; got {actions.tolist()}")
    one_hot = np.eye(levels)[actions.astype(np.int64)]  # [N, K, L]
    return _others_mean(one_hot.reshape(actions.shape[0], -1))


def soft_histogram(values: np.ndarray, bins: int, low: float = -1.0, high: float = 1.0
                   ) -> np.ndarray:
    """The others' linearly binned histogram of every agent (see the module docstring).

    Args:
        values: continuous actions ``[N]`` or ``[N, D]``; clipped to ``[low, high]``.
        bins: grid points per dimension (>= 2), ``linspace(low, high, bins)``.

    Returns:
        ``[N, D * bins]`` float64; block ``d`` of row ``i`` sums to 1 (N >= 2).
    """
    if int(bins) != bins or bins < 2:
        raise ValueError(f"bins must be an integer >= 2; got {bins!r}")
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        raise ValueError(f"need finite low < high; got low={low!r}, high={high!r}")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be finite, [N] or [N, D] with N >= 1; got shape "
                         f"{values.shape}")
    position = (np.clip(values, low, high) - low) / (high - low) * (bins - 1)
    lower = np.minimum(np.floor(position).astype(np.int64), bins - 2)
    upper_weight = position - lower
    histogram = np.zeros((*values.shape, int(bins)))
    np.put_along_axis(histogram, lower[..., None], (1.0 - upper_weight)[..., None], axis=-1)
    np.put_along_axis(histogram, lower[..., None] + 1, upper_weight[..., None], axis=-1)
    return _others_mean(histogram.reshape(values.shape[0], -1))


def mean_field(actions: np.ndarray, space: spaces.Space, bins: int = 11) -> np.ndarray:
    """The mean field of every agent from the joint action ``actions`` (agents along axis 0) of a
    group sharing the action ``space``: :func:`one_hot_mean` for Discrete/MultiDiscrete,
    :func:`soft_histogram` over ``[-1, 1]`` (learner units) with ``bins`` points for Box."""
    if isinstance(space, spaces.Box):
        return soft_histogram(np.asarray(actions).reshape(len(actions), -1), bins)
    _, levels = discrete_heads(space)
    return one_hot_mean(actions, levels)


def mean_field_size(space: spaces.Space, bins: int = 11) -> int:
    """Entries of :func:`mean_field` per agent for ``space``."""
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape)) * int(bins)
    heads, levels = discrete_heads(space)
    return heads * levels
