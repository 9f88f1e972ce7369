"""QVCG solve cache (issue 19 soak: RSS of IoVSlicingQVCG-v1 grew by ~90 MiB, then plateaued).

The cache of ``envs/iov/clearing`` holds 256 solves; its QVCG keys were the report tables
(``N (M+1)^3`` float64, 740 KB at N = 10, M = 20). They are now the instance itself.
"""

from __future__ import annotations

import numpy as np

import auction_envs
from auction_envs.envs.iov import clearing
from auction_envs.testing.golden import sample_action


def _episodes(count: int, seed: int = 0) -> list:
    env = auction_envs.make("auction_envs/IoVSlicingQVCG-v1", max_cycles=2)
    rng = np.random.default_rng(seed)
    record = [env.reset(seed=seed)[0]]
    for _ in range(count):
        for _ in range(2):
            record.append(env.step({a: sample_action(env.action_space(a), rng)
                                    for a in env.agents})[:2])
        record.append(env.reset()[0])
    return record


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_qvcg_cache_keys_are_small():
    clearing._CACHE.clear()
    _episodes(3)
    qvcg_keys = [key for key in clearing._CACHE if key.startswith(b"qvcg")]
    assert len(qvcg_keys) == 3  # one solve per episode (reports are exchanged once)
    assert max(map(len, qvcg_keys)) < 4096  # the tables' bytes were 741,000 per key


def test_qvcg_cache_hits_reproduce_the_solve():
    clearing._CACHE.clear()
    fresh = _episodes(2)
    cached = _episodes(2)  # the same markets again: every solve comes from the cache
    assert _same(fresh, cached)
