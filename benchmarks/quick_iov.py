"""A quick check of the IoV slicing market (paper 002) through the env itself.

``quick_run(seed=0)`` plays truthful scripted bidders (``x_i = u_i(s*_i)``) for 100 rounds on
``IoVSlicing-v1`` (DVCG, exact allocator) and ``IoVSlicingVCG-v1`` and returns rows in the format of
``benchmarks.quick_run``: mean welfare beside the exact optimum, mean efficiency beside 1, and the
bidders' NashConv over a bid grid (reference 0). Takes about a second.
``python -m benchmarks.quick_iov`` prints the rows.
"""

from __future__ import annotations

import json

import numpy as np

import auction_envs

ENVS = ("auction_envs/IoVSlicing-v1", "auction_envs/IoVSlicingVCG-v1")
ROUNDS = 100


def quick_run(seed: int = 0) -> list[dict]:
    rows = []
    for env_id in ENVS:
        env = auction_envs.make(env_id, max_cycles=ROUNDS)
        env.reset(seed=seed)
        base = env.unwrapped
        truthful = base.equilibrium()["bids"]
        while env.agents:
            env.step({a: np.array([truthful[i]], dtype=np.float32)
                      for i, a in enumerate(base.vsps)})
        metrics = base.metrics()
        nash_conv = base.bidder_nash_conv(bids=truthful.astype(np.float32).astype(np.float64),
                                          samples=16)["nash_conv"]
        for metric, value, reference in (
            ("mean welfare", metrics["mean_welfare"], metrics["optimal_welfare"]),
            ("mean efficiency", metrics["mean_efficiency"], 1.0),
            ("bidder NashConv (grid 0.5..1.5 x truthful)", nash_conv, 0.0),
        ):
            rows.append({"env_id": env_id, "policy": f"truthful x{base.n_vsps}", "metric": metric,
                         "value": float(value), "reference": float(reference), "rounds": ROUNDS,
                         "seed": seed})
    return rows


if __name__ == "__main__":
    print(json.dumps(quick_run(), indent=1))
