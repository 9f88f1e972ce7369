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
    CellStore,
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    plt_agg,
    run_jobs,
    save_figure,
)

CAPACITIES = (60.0, 100.0)
#: (bids per auction, slots, repetitions of the vectorized call, auctions in a batch: 0 = one)
AUCTION_CASES = ((5, 2, 3000, 0), (30, 10, 2000, 0), (300, 100, 200, 0), (3000, 1000, 10, 0),
                 (30, 10, 20, 1000))


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


def auction_case(n_bids: int, k: int, repeat: int, batch: int) -> dict:
    """One row of the auction table: both implementations timed back to back on the same bids
    (one speed-up; a job of :func:`benchmarks.common.run_jobs`). ``batch`` > 0: that many
    auctions in one vectorized call against a loop over them; the loop runs ``repeat // 10``
    times."""
    from auction_envs.mechanisms.second_price import second_price, second_price_reference

    rng = np.random.default_rng([n_bids, k, batch])
    if batch:
        bids = rng.random((batch, n_bids)) * 2000
        vec = time_call(lambda: second_price(bids, k, rng), repeat)
        ref = time_call(lambda: [second_price_reference(row, k, rng) for row in bids],
                        max(1, repeat // 10))
        case = f"batch of {batch} auctions x {n_bids} bids, {k} slots"
    else:
        bids = rng.random(n_bids) * 2000
        vec = time_call(lambda: second_price(bids, k, rng), repeat)
        ref = time_call(lambda: second_price_reference(bids, k, rng), max(1, repeat // 10))
        case = f"one auction, {n_bids} bids, {k} slots"
    return {"case": case, "vectorized_us": vec * 1e6, "python_loop_us": ref * 1e6,
            "speedup": ref / vec}


def auctions(store: CellStore | None = None, show_progress: bool = False) -> list[dict]:
    """The auction table, one row per :data:`AUCTION_CASES` entry (through ``store`` if given)."""
    return run_jobs(auction_case, list(AUCTION_CASES), show_progress=show_progress,
                    desc="auctions", store=store)


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
    store = cell_store(args)  # a rerun with the same --json runs only the missing cells
    episodes = run_jobs(episode, [(capacity, args.steps, 0) for capacity in CAPACITIES],
                        on_result=lambda _, e: results.add(e, key="episodes"),
                        show_progress=not args.no_progress, desc="episodes", store=store)
    results.update(episodes=episodes)  # in the order of CAPACITIES, whichever were stored
    print(f"Full episodes, 30 passive vehicles, {args.steps} steps")
    print("capacity  seconds  steps/s  requests  us/request  validation share")
    for e in episodes:
        print(f"{e['capacity']:>8.0f}  {e['seconds']:>7.2f}  {e['steps_per_second']:>7.0f}  "
              f"{e['requests']:>8}  {e['us_per_request']:>10.1f}  {e['validation_share']:>15.0%}")
    rows = auctions(store, show_progress=not args.no_progress)
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
