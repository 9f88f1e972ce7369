"""A quick check of the V2X offloading market: the passive "RIAL only" vehicles on the synthetic
variants, each OFR beside the paper's RIAL reference.

``quick_run(seed=0)`` plays :class:`agents.baselines.PassiveV2XPolicy` for 1000 steps on
``V2XOffloading-v1`` (capacity 100) and ``V2XOffloadingHighContention-v1`` (capacity 60) and returns
rows in the format of ``benchmarks.quick_run``: OFR and its parts, remote-site utilization and the
rebidding overhead. References: the paper's RIAL curve (Fig. 3a/4a: about 20% at capacity 60 with
MP 1, about 2% in low contention). A 1000-step run is short (the long-run figures come from
``benchmarks.v2x_capacity_sweep``); it takes a few seconds. ``python -m benchmarks.quick_v2x``.
"""

from __future__ import annotations

import json

import auction_envs
from agents.baselines import PassiveV2XPolicy

STEPS = 1000
# (env id, the paper's passive (RIAL, MP 1) OFR at that capacity)
ENVS = (("auction_envs/V2XOffloading-v1", 0.02), ("auction_envs/V2XOffloadingHighContention-v1", 0.20))


def run_passive(env_id: str, seed: int = 0, steps: int = STEPS, **kwargs) -> dict:
    """Play the passive policy for ``steps`` steps; return ``env.metrics()``."""
    env = auction_envs.make(env_id, max_cycles=steps, **kwargs)
    policy = PassiveV2XPolicy()
    observations, _ = env.reset(seed=seed)
    while env.agents:
        observations, *_ = env.step(policy.act(observations))
    return env.unwrapped.metrics()


def quick_run(seed: int = 0) -> list[dict]:
    rows = []
    for env_id, paper_ofr in ENVS:
        m = run_passive(env_id, seed)
        common = {"env_id": env_id, "policy": "passive (RIAL only) x30", "steps": STEPS,
                  "seed": seed}
        for metric, value, reference in (
            ("OFR", m["ofr"], paper_ofr),
            ("OFR rejected", m["ofr_rejected"], None),
            ("OFR deadline miss", m["ofr_deadline_miss"], None),
            ("remote utilization", m["utilization"]["remote"], None),
            ("rebidding overhead (rebids/request)", m["rebidding_overhead"], None),
        ):
            rows.append({**common, "metric": metric, "value": float(value), "reference": reference})
    return rows


if __name__ == "__main__":
    print(json.dumps(quick_run(), indent=1))
