"""Throughput of the V2X offloading simulator, and the vectorized auction against a Python loop.

1. A full episode (8000 steps, 30 passive vehicles, capacity 60 and 100): wall time, env steps
   per second, and microseconds per simulated request (requests created in the episode); the
   split between the env's own simulation and the base class's action validation.
2. The auction rule side by side: ``second_price`` (vectorized numpy) against
   ``second_price_reference`` (per-bid Python loop), on one auction of the sizes the ACA sees
   (a few to tens of bids) and on large and batched auctions.

No paper number is reproduced here: paper 000 reports no simulator speed. The claim checked is the
project's: the vectorized auction returns the same results as the per-bid loop and is much faster
on large and batched auctions (the speed-up column; on a handful of bids numpy's overhead can make
it slower), and an 8000-step episode runs in seconds. ``--json PATH`` is
written after each episode and after the auction table; ``--png PATH`` plots the speed-ups.

    python -m benchmarks.v2x_throughput [--steps 8000] [--json PATH] [--png PATH]
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    plt_agg,
    progress,
    save_figure,
)


def episode(capacity: float, steps: int, seed: int = 0) -> dict:
    from agents.baselines import PassiveV2XPolicy
    from auction_envs.envs.v2x import V2XOffloadingEnv

    env = V2XOffloadingEnv(capacity=capacity, max_cycles=steps)
    policy = PassiveV2XPolicy()
    observations, _ = env.reset(seed=seed)
    validation = 0.0
    started = time.perf_counter()
    while env.agents:
        actions = policy.act(observations)
        t0 = time.perf_counter()
        env.validate_actions(actions)
        validation += time.perf_counter() - t0
        observations, *_ = env.step(actions)
    seconds = time.perf_counter() - started - validation  # validation measured twice: remove once
    requests = int(env.metrics()["requests"])
    return {"capacity": capacity, "steps": steps, "seconds": seconds, "steps_per_second": steps / seconds,
            "requests": requests, "us_per_request": seconds / requests * 1e6,
            "validation_share": validation / seconds}


def time_call(fn, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def auctions() -> list[dict]:
    from auction_envs.mechanisms.second_price import second_price, second_price_reference

    rng = np.random.default_rng(0)
    rows = []
    for n_bids, k, repeat in ((5, 2, 3000), (30, 10, 2000), (300, 100, 200), (3000, 1000, 10)):
        bids = rng.random(n_bids) * 2000
        vec = time_call(lambda b=bids, k=k: second_price(b, k, rng), repeat)
        ref = time_call(lambda b=bids, k=k: second_price_reference(b, k, rng), max(1, repeat // 10))
        rows.append({"case": f"one auction, {n_bids} bids, {k} slots", "vectorized_us": vec * 1e6,
                     "python_loop_us": ref * 1e6, "speedup": ref / vec})
    bids = rng.random((1000, 30)) * 2000
    vec = time_call(lambda: second_price(bids, 10, rng), 20)
    ref = time_call(lambda: [second_price_reference(row, 10, rng) for row in bids], 2)
    rows.append({"case": "batch of 1000 auctions x 30 bids, 10 slots", "vectorized_us": vec * 1e6,
                 "python_loop_us": ref * 1e6, "speedup": ref / vec})
    return rows


def plot(rows: list[dict], path: str) -> None:
    """Per-call time of both auction implementations per case (log scale)."""
    plt = plt_agg()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["vectorized_us"] for r in rows], 0.4, label="vectorized second_price")
    ax.bar(x + 0.2, [r["python_loop_us"] for r in rows], 0.4, label="per-bid Python loop")
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{r['case']}\n(x{r['speedup']:.0f})" for r in rows], fontsize=7)
    ax.set_ylabel("microseconds per call")
    ax.legend()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__, "python -m benchmarks.v2x_throughput")
    parser.add_argument("--steps", type=int, default=8000, help="steps per episode (default 8000)")
    add_output_arguments(parser, png=True, json_help="write the episodes and auction timings as JSON "
                                                     "to PATH (after each part)")
    args = parser.parse_args(argv)
    results = IncrementalResults(args.json, {"episodes": []})
    episodes = results.payload["episodes"]
    for capacity in progress((60.0, 100.0), desc="episodes", enabled=not args.no_progress):
        results.add(episode(capacity, args.steps), key="episodes")
    print(f"Full episodes, 30 passive vehicles, {args.steps} steps")
    print("capacity  seconds  steps/s  requests  us/request  validation share")
    for e in episodes:
        print(f"{e['capacity']:>8.0f}  {e['seconds']:>7.2f}  {e['steps_per_second']:>7.0f}  "
              f"{e['requests']:>8}  {e['us_per_request']:>10.1f}  {e['validation_share']:>15.0%}")
    rows = auctions()
    results.update(auctions=rows)
    print("\nAuction rule: vectorized second_price vs per-bid Python loop (same results)")
    print(f"{'case':<45} {'vectorized us':>14} {'python loop us':>15} {'speed-up':>9}")
    for r in rows:
        print(f"{r['case']:<45} {r['vectorized_us']:>14.1f} {r['python_loop_us']:>15.1f} "
              f"{r['speedup']:>8.1f}x")
    if args.png:
        plot(rows, args.png)
        print(f"plot: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
