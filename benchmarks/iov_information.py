"""Paper 002, Table II: information exchanged between VSPs and the NSP over 500 rounds (floats).

DVCG: one bid per VSP and round (measured by playing the env); QVCG: one M^3 table per VSP, once
(the paper's count; the grid with both ends has (M+1)^3 points, shown too).
``python -m benchmarks.iov_information``.
"""

from __future__ import annotations

import json

import numpy as np

import auction_envs

PAPER = {"DVCG-MFMARL": [0.005, 0.01, 0.015, 0.02, 0.025], "QVCG-0.05": [0.08, 0.16, 0.24, 0.32, 0.40],
         "QVCG-0.01": [10.0, 20.0, 30.0, 40.0, 50.0]}
SIZES = (10, 20, 30, 40, 50)
ROUNDS = 500


def run() -> dict:
    ours: dict[str, list[float]] = {name: [] for name in PAPER}
    grid_points: dict[str, list[float]] = {"QVCG-0.05": [], "QVCG-0.01": []}
    for n in SIZES:
        env = auction_envs.make("auction_envs/IoVSlicing-v0", n_vsps=n, max_cycles=ROUNDS)
        env.reset(seed=0)
        truthful = env.unwrapped.equilibrium()["bids"]
        total = 0.0
        while env.agents:
            env.step({a: np.array([truthful[i]], dtype=np.float32)
                      for i, a in enumerate(env.unwrapped.vsps)})
            total += env.unwrapped.information_per_round()
        ours["DVCG-MFMARL"].append(total / 1e6)
        for name, m in (("QVCG-0.05", 20), ("QVCG-0.01", 100)):
            ours[name].append(n * m**3 / 1e6)
            grid_points[name].append(n * (m + 1) ** 3 / 1e6)
    return {"N": list(SIZES), "ours_x1e6": ours, "paper_x1e6": PAPER,
            "qvcg_with_(M+1)^3_grid_x1e6": grid_points}


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
