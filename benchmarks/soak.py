"""Soak test: long runs of every registered env under boundary-heavy random actions.

Issue 19 asks for ``python -m benchmarks.soak``: 10^6 steps per env with random actions that sit
on, and just inside, the action bounds much of the time, reporting NaN/inf counts in observations
and rewards, observations outside their spaces, the resident memory (RSS) at the start and the end,
and steps/s. Researchers run these envs for days: a slow leak, a NaN after 400,000 rounds or an
observation that drifts out of its Box shows here, not in a 300-step test.

Actions. Every agent's action is drawn each step from a mix: the lower bound, the upper bound,
one float32 step inside either bound, and uniform in the Box (infinite bounds replaced by +-1e3),
each with probability 1/5 per entry; discrete spaces take their first, last or a uniform level.
Actions are drawn in blocks of 1024 joint actions from one seeded generator (reproducible).

Each env runs in its own subprocess (``--in-process`` to run them in this one; ``--workers N``
soaks N ids at once), so the RSS figures are that env's own: RSS after construction and the first
reset, at the end, and the peak (``ru_maxrss``). Episodes that end are reset (unseeded, continuing
the generator). An exception stops that env's run and is reported with the step it happened at.
With ``--json PATH`` each finished env is kept in ``PATH.cells.jsonl``; a rerun with the same
arguments soaks only the missing ids (``--restart``: all again).

Examples::

    python -m benchmarks.soak                       # 10^6 steps per env (hours on one core)
    python -m benchmarks.soak --quick --json soak.json
    python -m benchmarks.soak --steps 20000 --ids auction_envs/KellyGame-v0
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FULL_STEPS = 1_000_000
QUICK_STEPS = 10_000
BLOCK = 1024


def rss_mib() -> float | None:
    """Current resident set size in MiB (Linux ``/proc``; None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


class BoundaryActions:
    """Blocks of boundary-heavy random actions for one agent's space."""

    def __init__(self, space: Any, rng: np.random.Generator) -> None:
        from gymnasium import spaces

        self.space, self.rng = space, rng
        self.kind = "box" if isinstance(space, spaces.Box) else "discrete"
        shape = space.shape or ()
        if self.kind == "box":
            low = np.where(np.isfinite(space.low), space.low, -1e3).astype(space.dtype)
            high = np.where(np.isfinite(space.high), space.high, 1e3).astype(space.dtype)
            inside_low = np.minimum(np.nextafter(low, high), high)
            inside_high = np.maximum(np.nextafter(high, low), low)
            self.choices = np.stack([low, high, inside_low, inside_high]).astype(space.dtype)
            self.low, self.high = low.astype(np.float64), high.astype(np.float64)
        elif isinstance(space, spaces.Discrete):
            self.first = np.full(shape, space.start, dtype=np.int64)
            self.count = np.full(shape, space.n, dtype=np.int64)
        elif isinstance(space, spaces.MultiDiscrete):
            self.first = np.asarray(space.start, dtype=np.int64) + np.zeros(shape, np.int64)
            self.count = np.asarray(space.nvec, dtype=np.int64)
        elif isinstance(space, spaces.MultiBinary):
            self.first, self.count = np.zeros(shape, np.int64), np.full(shape, 2, np.int64)
        else:
            raise TypeError(f"no soak actions for {space!r}")
        self.shape = shape

    def block(self) -> np.ndarray:
        shape = (BLOCK, *self.shape)
        mode = self.rng.integers(5, size=shape)
        if self.kind == "box":
            uniform = self.rng.uniform(self.low, self.high, size=shape).astype(self.space.dtype)
            picked = np.take_along_axis(
                np.broadcast_to(self.choices, (BLOCK, *self.choices.shape)),
                np.minimum(mode, 3)[:, None], axis=1)[:, 0]
            return np.where(mode == 4, uniform, picked).astype(self.space.dtype)
        level = self.rng.integers(0, self.count, size=shape)
        level = np.where(mode == 0, 0, np.where(mode == 1, self.count - 1, level))
        return (self.first + level).astype(np.int64)


def soak_one(env_id: str, steps: int, seed: int) -> dict[str, Any]:
    import warnings

    import auction_envs

    warnings.simplefilter("ignore")
    rss_before_env = rss_mib()
    env = auction_envs.make(env_id)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    rss_start = rss_mib()
    agents = list(env.possible_agents)
    samplers = {agent: BoundaryActions(env.action_space(agent), rng) for agent in agents}
    spaces_ = {agent: env.observation_space(agent) for agent in agents}
    lows = {a: s.low for a, s in spaces_.items() if hasattr(s, "low")}
    highs = {a: s.high for a, s in spaces_.items() if hasattr(s, "high")}
    counts = {"nan_or_inf_observations": 0, "nan_or_inf_rewards": 0,
              "observations_outside_space": 0, "episodes": 1}
    first_outside: dict[str, Any] | None = None
    error = None
    done = 0
    start = time.perf_counter()
    blocks: dict[str, np.ndarray] = {}
    try:
        for t in range(steps):
            if t % BLOCK == 0:
                blocks = {agent: samplers[agent].block() for agent in agents}
            if not env.agents:
                env.reset()
                counts["episodes"] += 1
            row = t % BLOCK
            observations, rewards, *_ = env.step({a: blocks[a][row] for a in env.agents})
            for agent, observation in observations.items():
                if not np.isfinite(observation).all():
                    counts["nan_or_inf_observations"] += 1
                if agent in lows:
                    outside = (observation.dtype != spaces_[agent].dtype
                               or (observation < lows[agent]).any()
                               or (observation > highs[agent]).any())
                else:
                    outside = not spaces_[agent].contains(observation)
                if outside:
                    counts["observations_outside_space"] += 1
                    if first_outside is None:
                        first_outside = {"step": t, "agent": agent,
                                         "observation": np.asarray(observation).tolist()}
            for reward in rewards.values():
                if not np.isfinite(reward):
                    counts["nan_or_inf_rewards"] += 1
            done = t + 1
    except Exception as exc:  # reported: the soak found a crash
        error = {"step": done, "error": f"{type(exc).__name__}: {exc}"}
    elapsed = time.perf_counter() - start
    return {
        "id": env_id, "steps": done, "requested_steps": steps, "seed": seed,
        "steps_per_s": done / elapsed if elapsed > 0 else None, "seconds": elapsed,
        **counts, "first_observation_outside": first_outside, "error": error,
        "rss_mib_before_env": rss_before_env, "rss_mib_start": rss_start, "rss_mib_end": rss_mib(),
        "peak_rss_mib": max(peak_rss_mib(), rss_mib() or 0.0),
    }


def run_isolated(env_id: str, steps: int, seed: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.soak", "--one", env_id, "--steps", str(steps),
               "--seed", str(seed)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode < 0:  # killed by a signal (Ctrl-C, kill): no result, a rerun soaks it again
        raise ChildProcessError(f"the soak of {env_id} was killed by signal {-done.returncode}")
    if done.returncode != 0:
        return {"id": env_id, "steps": 0, "error": {"step": None, "error": done.stderr[-2000:]}}
    return json.loads(done.stdout.strip().splitlines()[-1])


def fmt(value: Any, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import (
        IncrementalResults,
        add_output_arguments,
        benchmark_parser,
        cell_store,
        run_jobs,
    )

    parser = benchmark_parser(__doc__, "python -m benchmarks.soak")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"steps per env (default {FULL_STEPS:,}; --quick: {QUICK_STEPS:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS:,} steps per env")
    parser.add_argument("--ids", nargs="+", default=None, metavar="ID",
                        help="env ids (default: every registered id)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resets and actions")
    parser.add_argument("--in-process", action="store_true",
                        help="run every env in this process (RSS figures then accumulate)")
    parser.add_argument("--workers", type=int, default=1,
                        help="envs soaked at once, each in its own subprocess (default 1)")
    parser.add_argument("--one", default=None, help=argparse_suppress())
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else (QUICK_STEPS if args.quick else FULL_STEPS)
    if steps < 1:
        parser.error("--steps must be positive")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1; got {args.workers}")
    if args.one:
        print(json.dumps(soak_one(args.one, steps, args.seed)))
        return 0

    import auction_envs

    ids = list(args.ids or auction_envs.list_envs())
    results = IncrementalResults(args.json, {"benchmark": "soak", "steps": steps,
                                             "seed": args.seed, "envs": []})
    # one cell per env id; a rerun with the same --json soaks only the missing ids
    rows = run_jobs(soak_one if args.in_process else run_isolated,
                    [(env_id, steps, args.seed) for env_id in ids], workers=args.workers,
                    on_result=lambda _, row: results.add(row, key="envs"),
                    show_progress=not args.no_progress, desc="envs", store=cell_store(args))
    results.update(envs=rows)  # in the order of the ids, whichever came from the store
    print(f"\n{steps:,} steps per env, boundary-heavy random actions, seed {args.seed}")
    print("| id | steps | steps/s | NaN/inf obs | NaN/inf rewards | obs outside space | "
          "RSS start MiB | RSS end MiB | peak MiB | error |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        error = r.get("error")
        print(f"| {r['id']} | {r.get('steps', 0):,} | {fmt(r.get('steps_per_s'))} | "
              f"{fmt(r.get('nan_or_inf_observations'), 'd')} | "
              f"{fmt(r.get('nan_or_inf_rewards'), 'd')} | "
              f"{fmt(r.get('observations_outside_space'), 'd')} | {fmt(r.get('rss_mib_start'), '.1f')} "
              f"| {fmt(r.get('rss_mib_end'), '.1f')} | {fmt(r.get('peak_rss_mib'), '.1f')} | "
              f"{(error or {}).get('error', '')[:80]} |")
    bad = [r["id"] for r in rows if r.get("error") or r.get("nan_or_inf_observations")
           or r.get("nan_or_inf_rewards") or r.get("observations_outside_space")]
    return 1 if bad else 0


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    raise SystemExit(main())
