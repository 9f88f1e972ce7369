"""A quick run of the cloud double auction (paper 004): RTRM, RTRM-Fair, CDARA and ICAA.

``quick_run(seed=0)`` plays 3 episodes of 100 steps per mechanism with the scripted fixed-markup
pricing (multiplier 0.2 for every buyer, ``agents.baselines.cloud_pricing.FixedMarkupPricing``;
CDARA and ICAA ignore it and price with their own rule) on
the packaged synthetic trace sample and returns rows in the format of ``benchmarks.quick_run``:
buyer utility, total provider utility, Jain's index of wins, providers without a win, buyer drops,
match rate and deadline failures. The market has no equilibrium; the reference column carries the
paper's claim where it makes one (or the invariant: 0 deadline failures). A few seconds.
``python -m benchmarks.quick_cloud`` prints the rows.
"""

from __future__ import annotations

import json

from benchmarks.cloud_comparison import run_config

CONFIGS = (("rtrm", False), ("rtrm", True), ("cdara", False), ("icaa", False))
EPISODES = 3
REFERENCES = {
    "buyer_utility": {"rtrm": ">= 1.4 x CDARA and ICAA (paper)"},
    "providers_without_win": {"rtrm+fair": 0},
    "deadline_failures": None,
}


def quick_run(seed: int = 0) -> list[dict]:
    rows = []
    for mechanism, fairness in CONFIGS:
        result = run_config(mechanism, fairness, episodes=EPISODES, seed=seed)
        key = mechanism + ("+fair" if fairness else "")
        env_id = "auction_envs/CloudDoubleAuction" + ("Fair" if fairness else "") + "-v1"
        values = {
            "buyer_utility": result["buyer_utility"],
            "total_provider_utility": result["total_provider_utility"],
            "jain_wins": result["jain_wins"],
            "providers_without_win": result["providers_without_win"],
            "buyer_drops": result["buyer_drops"],
            "match_rate": result["match_rate"],
            "deadline_failures": result["deadline_failures"],
        }
        for metric, value in values.items():
            reference = None
            if metric == "deadline_failures":
                reference = 0
            elif REFERENCES.get(metric):
                reference = REFERENCES[metric].get(key)
            pricing = "fixed-markup 0.2" if mechanism == "rtrm" else "own pricing"
            rows.append({"env_id": env_id, "policy": f"{result['label']} {pricing}",
                         "metric": metric, "value": float(value), "reference": reference})
    return rows


if __name__ == "__main__":
    print(json.dumps(quick_run(), indent=1))
