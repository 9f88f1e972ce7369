"""Throughput of the vector IoV slicing env with the exact optimum (issue 16, item 4).

Issue 16 asks for "vector IoVSlicing with the exact optimum at least 50,000 env-steps/s". This
script measures ``auction_envs.make_vec(id, num_envs=B)`` env-steps/s (``B`` x steps / seconds)
for ``B`` in ``--num-envs`` (default 1, 64, 1024, 4096), the way VMAS measures: one *fixed*
joint action (the truthful bids times a seeded factor in [0.8, 1.2], so DVCG perturbs the
over-bidders' rounds) reused for ``--steps`` steps after an untimed warm-up (reset, a few steps,
numba compilation), the median over ``--repeats`` repetitions, single process. The dict env
(``auction_envs.make``) with the same bids is measured in the same run: ``x dict`` is the
vector env's env-steps/s over the dict env's steps/s.

Where the exact optimum is solved:

* ``IoVSlicing-v1`` (DVCG, exact bank): the optimum and its N Clarke pivots of every market at
  *reset* (one compiled call over the batch), reused by every round of the episode. The figure
  ``steps_per_s`` is the rounds alone; ``episode_steps_per_s`` charges each episode its reset:
  ``B max_cycles / (reset + max_cycles x step time)``.
* ``IoVSlicingVCG-v1`` (plain VCG): the optimum of the reported utilities and its N pivots at
  *every round* (one compiled call over the batch per round).

``--profile`` runs cProfile over one more (untimed) reset and ``--steps`` steps of the largest
``B`` and prints where the time goes. The load (``/proc/loadavg``, as ``uptime`` shows it), the
CPU model and the library versions are recorded beside the figures: on a shared machine the
absolute numbers move with the load.

Examples::

    nice -n 10 python -m benchmarks.perf_vector_iov --json perf_vector_iov.json
    python -m benchmarks.perf_vector_iov --num-envs 1 64 --steps 20 --ids auction_envs/IoVSlicing-v1
    python -m benchmarks.perf_vector_iov --profile --num-envs 4096
"""

from __future__ import annotations

import cProfile
import io
import platform
import pstats
import statistics
import sys
import time
from typing import Any

import numpy as np

from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    run_jobs,
)

DEFAULT_IDS = ("auction_envs/IoVSlicing-v1", "auction_envs/IoVSlicingVCG-v1")
DEFAULT_NUM_ENVS = (1, 64, 1024, 4096)
TARGET_ENV_STEPS_PER_S = 50_000.0


def load_average() -> str:
    """``/proc/loadavg`` (the three figures ``uptime`` shows), or '' where there is none."""
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """CPU model, core count and library versions, recorded with the figures."""
    import numba
    import scipy

    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import os

    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__, "numba": numba.__version__}


def fixed_bids(venv: Any, seed: int) -> np.ndarray:
    """The fixed joint action: truthful bids times a seeded factor in [0.8, 1.2] (float32)."""
    truthful = venv.equilibrium()["bids"]
    factor = np.random.default_rng(seed).uniform(0.8, 1.2, truthful.shape)
    high = venv.action_space.high.astype(np.float64)[..., 0]
    return np.minimum(truthful * factor, high)[..., None].astype(np.float32)


def measure_vector_iov(env_id: str, num_envs: int, steps: int = 100, repeats: int = 3,
                       seed: int = 0, max_seconds: float = 30.0, profile: bool = False,
                       **kwargs: Any) -> dict[str, Any]:
    """One cell: env-steps/s of ``make_vec(env_id, num_envs, **kwargs)`` (median of
    ``repeats`` timings of ``steps`` fixed-action steps; a repetition stops early after
    ``max_seconds`` and counts the steps it made) and the reset time. ``profile``: the top of
    a cProfile of one more (untimed) repetition, as text, in ``"profile"``."""
    import auction_envs

    venv = auction_envs.make_vec(env_id, num_envs=num_envs, **kwargs)
    venv.reset(seed=seed)
    actions = fixed_bids(venv, seed)
    for _ in range(3):  # warm-up: caches, compiled kernels
        venv.step(actions)
    reset_seconds = []
    rates = []
    counted = []
    for _ in range(repeats):
        start = time.perf_counter()
        venv.reset(seed=seed)
        reset_seconds.append(time.perf_counter() - start)
        done, elapsed = _timed_steps(venv, actions, steps, max_seconds)
        rates.append(num_envs * done / elapsed)
        counted.append(done)
    profile_text = None
    if profile:  # one more repetition under cProfile, apart from the timed ones
        profiler = cProfile.Profile()
        profiler.enable()
        venv.reset(seed=seed)  # the reset's batched optimum is part of an episode's cost
        _timed_steps(venv, actions, steps, max_seconds)
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(18)
        profile_text = text.getvalue()
    step_seconds = num_envs / statistics.median(rates)  # one step of the whole batch
    reset = statistics.median(reset_seconds)
    cycles = venv.max_cycles
    result = {"env_id": env_id, "num_envs": num_envs, "steps": counted, "repeats": repeats,
              "steps_per_s": statistics.median(rates), "reset_seconds": reset,
              "episode_steps_per_s": num_envs * cycles / (reset + cycles * step_seconds),
              "max_cycles": cycles, "load_average": load_average()}
    if profile_text is not None:
        result["profile"] = profile_text
    return result


def _timed_steps(venv: Any, actions: np.ndarray, steps: int, max_seconds: float
                 ) -> tuple[int, float]:
    """``(steps made, seconds)``: ``steps`` steps of ``actions``, or fewer after ``max_seconds``."""
    done = 0
    start = time.perf_counter()
    while done < steps:
        venv.step(actions)
        done += 1
        if time.perf_counter() - start > max_seconds:
            break
    return done, time.perf_counter() - start


def measure_dict_env(env_id: str, steps: int = 100, repeats: int = 3, seed: int = 0,
                     **kwargs: Any) -> dict[str, Any]:
    """The reference: steps/s of the dict env ``auction_envs.make(env_id)`` with the same fixed
    bids (median of ``repeats``; a truncated episode is reset inside the timed loop)."""
    import auction_envs

    env = auction_envs.make(env_id, **kwargs)
    env.reset(seed=seed)
    truthful = env.unwrapped.equilibrium()["bids"]
    factor = np.random.default_rng(seed).uniform(0.8, 1.2, truthful.shape)
    bids = np.minimum(truthful * factor, env.unwrapped.bid_high).astype(np.float32)
    joint = {agent: bids[i:i + 1] for i, agent in enumerate(env.unwrapped.possible_agents)}
    rates = []
    for _ in range(repeats):
        env.reset(seed=seed)
        start = time.perf_counter()
        for _ in range(steps):
            if not env.unwrapped.agents:
                env.reset()
            env.step(joint)
        rates.append(steps / (time.perf_counter() - start))
    return {"env_id": env_id, "dict_steps_per_s": statistics.median(rates),
            "load_average": load_average()}


def table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'env id':<32} {'B':>6} {'env-steps/s':>12} {'with resets':>12} "
             f"{'reset s':>8} {'x dict':>7} {'target':>8}  load"]
    for r in results:
        verdict = "met" if r["episode_steps_per_s"] >= TARGET_ENV_STEPS_PER_S else "missed"
        lines.append(f"{r['env_id'].split('/')[-1]:<32} {r['num_envs']:>6} "
                     f"{r['steps_per_s']:>12,.0f} {r['episode_steps_per_s']:>12,.0f} "
                     f"{r['reset_seconds']:>8.3f} {r['speedup_over_dict_env']:>7.1f} "
                     f"{verdict:>8}  {r['load_average']}")
    lines.append(f"issue 16's claim: vector IoVSlicing with the exact optimum >= "
                 f"{TARGET_ENV_STEPS_PER_S:,.0f} env-steps/s (\"with resets\" charges every "
                 f"episode its reset's batched optimum; target judged on it)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__, "python -m benchmarks.perf_vector_iov")
    parser.add_argument("--ids", nargs="+", default=list(DEFAULT_IDS), help="env ids to measure")
    parser.add_argument("--num-envs", nargs="+", type=int, default=list(DEFAULT_NUM_ENVS),
                        help="batch sizes B (default 1 64 1024 4096)")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per repetition")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (median taken)")
    parser.add_argument("--max-seconds", type=float, default=30.0,
                        help="a repetition stops after this long (counting the steps it made)")
    parser.add_argument("--n-vsps", type=int, default=10, help="VSPs per market")
    parser.add_argument("--seed", type=int, default=0, help="seed of the markets and the bids")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the largest B of each id and print the top entries")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    out = IncrementalResults(args.json, {"machine": machine(), "load_before": load_average(),
                                         "results": []})
    largest = max(args.num_envs)
    jobs = [(env_id, b, args.steps, args.repeats, args.seed, args.max_seconds,
             args.profile and b == largest, args.n_vsps)
            for env_id in args.ids for b in args.num_envs]
    results = run_jobs(_cell, jobs, workers=1, show_progress=not args.no_progress,
                       desc="cells", store=None if args.profile else cell_store(args),
                       on_result=lambda _, result: out.add(result, "results"))
    references = run_jobs(_dict_cell, [(env_id, args.steps, args.repeats, args.seed, args.n_vsps)
                                       for env_id in args.ids],
                          workers=1, show_progress=False, store=cell_store(args))
    dict_rates = {r["env_id"]: r["dict_steps_per_s"] for r in references}
    for result in results:
        result["speedup_over_dict_env"] = result["steps_per_s"] / dict_rates[result["env_id"]]
    out.update(dict_envs=references, load_after=load_average(),
               target_env_steps_per_s=TARGET_ENV_STEPS_PER_S)
    print(f"load average before: {out.payload['load_before']}  after: {load_average()}  "
          f"({out.payload['machine']['cpu']}, {out.payload['machine']['cores']} cores)")
    print(table(results))
    for reference in references:
        print(f"dict env {reference['env_id'].split('/')[-1]}: "
              f"{reference['dict_steps_per_s']:,.0f} steps/s")
    for result in results:
        if "profile" in result:
            print(f"\ncProfile of {result['env_id']} at B = {result['num_envs']}:")
            print(result["profile"])
    return out.payload


def _dict_cell(env_id: str, steps: int, repeats: int, seed: int, n_vsps: int) -> dict[str, Any]:
    return measure_dict_env(env_id, steps, repeats, seed, n_vsps=n_vsps)


def _cell(env_id: str, num_envs: int, steps: int, repeats: int, seed: int, max_seconds: float,
          profile: bool, n_vsps: int) -> dict[str, Any]:
    return measure_vector_iov(env_id, num_envs, steps, repeats, seed, max_seconds, profile,
                              n_vsps=n_vsps)


if __name__ == "__main__":
    main(sys.argv[1:])
