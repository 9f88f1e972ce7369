"""Vector KellyGame against the limit and the peers, and the oracles against generic solvers
(issue 16, item 4 and its "Must show").

Every figure is a ratio of two sides measured side by side in the same run (their repetitions
alternate, so load drift hits both alike), the way VMAS measures: one *fixed* joint action reused
for ``--steps`` steps (default 100) after an untimed warm-up, the median over ``--repeats``
repetitions, single process. The load (``/proc/loadavg``, as ``uptime`` shows it), the CPU model
and the library versions are recorded beside the figures.

Sections (``--sections``, default all):

* ``throughput``: ``auction_envs.make_vec("auction_envs/KellyGame-v0", num_envs=B)`` agent-steps/s
  (``B n steps / s``) against a *bare numpy kernel* doing the same arithmetic on the same ``B``
  (:class:`BareKellyKernel`: others' bids, shares ``z / (sum z + delta)``, payoffs
  ``a log x - z``, gradients, best responses, the float32 observation block; no validation,
  no autoreset, no infos; its rewards equal the env's bit for bit, tested). Ratio vector/bare per
  ``B``; targets (issue 16): >= 50% of bare at B = 4096 and >= 10 million agent-steps/s on one
  core. Where a target is missed, a cProfile of the vector step at B = 4096 says where the
  time goes.
* ``allocator``: the throughput cell at B = 4096 again, each in a fresh interpreter, with glibc's
  default malloc and with its mmap threshold raised to 64 MiB (``MALLOC_MMAP_THRESHOLD_``): fresh
  arrays above the threshold are new mmaps whose pages fault in on first write. The vector step
  now reuses its work buffers and recycles its outputs (``auction_envs.vector.OutputPool``), so
  both settings should give about the same figure; a gap would show a per-step allocation left.
* ``supersuit``: SuperSuit's concat path (the PettingZoo -> SB3 recipe,
  ``auction_envs.wrappers.sb3.sb3_vec_env`` over ``num_copies = B`` dict envs) against our native
  ``sb3_native_vec_env`` with ``B`` markets, agent-steps/s of SB3 ``VecEnv.step`` with fixed
  actions (autoresets included: an episode is 3000 rounds).
* ``oracles``: each oracle against a generic solver at equal accuracy, both warmed up and
  interleaved per instance (median of the per-instance time ratios; the accuracy of each side
  is recorded): Kelly Nash equilibrium (``kelly_nash_equilibrium``) vs ``scipy.optimize.root``
  on the first-order conditions; the slicing optimum (``slicing_welfare_optimum``) vs cvxpy
  (``benchmarks.iov_solver``'s build-and-solve); the CES competitive equilibrium
  (``competitive_equilibrium``) vs ``scipy.optimize.root`` on the excess demand. Target >= 100x.
  With numba (the ``fast`` extra) our Kelly and CES sides are compiled Newton solves (a few us);
  without it they are the numpy paths (Brent; PRD + polish) and miss the target.
* ``memory``: peak traced memory (``tracemalloc``) and the RSS growth of building, resetting and
  stepping the vector KellyGame at B = 30,000 (``--memory-envs``).
* ``ppo``: SB3 PPO (MlpPolicy) training timesteps/s through ``sb3_native_vec_env`` against the
  SuperSuit path on KellyGame, ``--ppo-timesteps`` each, the same number of rows.

``--png`` draws agent-steps/s against ``num_envs`` (log-log): vector, bare kernel, SuperSuit
and native SB3 VecEnvs. ``--quick``: B up to 4096, fewer instances and PPO steps.

Examples::

    nice -n 10 python -m benchmarks.perf_vector --json docs/results/perf_vector.json \\
        --png docs/figures/perf_vector.png
    python -m benchmarks.perf_vector --quick --sections throughput oracles
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import sys
import time
import tracemalloc
from typing import Any

import numpy as np

from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    plt_agg,
    run_jobs,
    save_figure,
)
from benchmarks.perf_vector_iov import load_average, machine

KELLY_ID = "auction_envs/KellyGame-v0"
FULL_NUM_ENVS = (1, 10, 100, 1000, 4096, 10000, 30000)
QUICK_NUM_ENVS = (1, 10, 100, 1000, 4096)
FULL_SUPERSUIT_ENVS = (1, 10, 100, 1000)
QUICK_SUPERSUIT_ENVS = (1, 10, 100)
SECTIONS = ("throughput", "allocator", "supersuit", "oracles", "memory", "ppo")
TARGET_FRACTION_OF_BARE = 0.5
TARGET_AGENT_STEPS_PER_S = 10e6
TARGET_ORACLE_SPEEDUP = 100.0
PROFILE_ENVS = 4096


def versions() -> dict[str, Any]:
    """:func:`machine` plus the versions of the libraries on the measured paths."""
    info = machine()
    for name in ("gymnasium", "pettingzoo", "supersuit", "stable_baselines3", "torch", "cvxpy"):
        try:
            info[name] = __import__(name).__version__
        except (ImportError, AttributeError):
            info[name] = None
    return info


# ---------------------------------------------------------------------------- the bare kernel
class BareKellyKernel:
    """The Kelly round of ``B`` games in plain numpy, with preallocated arrays: the limit.

    The same arithmetic as ``kelly_round`` (alpha = 1, no counterfactual grid) and the same
    observation block as the vector env (float32 ``[B, n, size]``, the round fields at their
    columns), nothing else: no action checks, no clipping, no round counter or autoreset, no
    infos. :meth:`step` returns the payoffs (the env's rewards).
    """

    def __init__(self, venv: Any) -> None:
        core = venv.core
        if core.alpha != 1.0 or core.counterfactual_bids is not None:
            raise ValueError(f"the bare kernel plays alpha = 1 without a counterfactual grid; got "
                             f"alpha={core.alpha}, grid={core.counterfactual_bids is not None}")
        self.a, self.c = core.valuations, core.budgets
        self.eps, self.delta = core.eps, core.delta
        self.columns = [venv.layout.slice(name).start
                        for name in ("bid", "others_bid", "allocation", "payoff", "gradient")]
        self.observation = venv._constants.copy()
        shape = self.observation.shape[:2]
        self.others, self.allocation, self.payoff, self.gradient, self.best = (
            np.empty(shape) for _ in range(5))
        self.work = np.empty(shape)

    def step(self, bids: np.ndarray) -> np.ndarray:
        """One round for bids ``[B, n]`` (float64); the payoffs ``[B, n]``."""
        a, others, work = self.a, self.others, self.work
        total = bids.sum(axis=-1, keepdims=True)
        np.subtract(total, bids, out=others)
        others += self.delta                                  # s_i = sum_{j!=i} z_j + delta
        np.add(total, self.delta, out=work)
        np.divide(bids, work, out=self.allocation)            # x_i = z_i / (sum z + delta)
        np.log(self.allocation, out=self.payoff)
        self.payoff *= a
        self.payoff -= bids                                   # a log x - z
        np.add(bids, others, out=work)
        work *= bids
        np.multiply(a, others, out=self.gradient)
        self.gradient /= work
        self.gradient -= 1.0                                  # a s / (z (z + s)) - 1
        np.multiply(others, others, out=work)
        work += 4.0 * a * others
        np.sqrt(work, out=work)
        work += others
        np.multiply(2.0 * a, others, out=self.best)
        self.best /= work
        np.maximum(self.best, self.eps, out=self.best)
        np.minimum(self.best, self.c, out=self.best)          # clipped best response
        for column, values in zip(self.columns, (bids, others, self.allocation, self.payoff,
                                                 self.gradient)):
            self.observation[..., column] = values
        return self.payoff


def fixed_kelly_bids(venv: Any, seed: int) -> np.ndarray:
    """The fixed joint action ``[B, n, 1]`` (float32): the equilibrium bids times a seeded factor
    in [0.5, 1.5], clipped into the action box."""
    rng = np.random.default_rng(seed)
    bids = venv.core.equilibrium() * rng.uniform(0.5, 1.5, (venv.num_envs, venv.n_agents))
    return np.clip(bids, venv.core.eps, venv.core.budgets)[..., None].astype(np.float32)


def _rate(step: Any, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def throughput_cell(num_envs: int, steps: int, repeats: int, seed: int) -> dict[str, Any]:
    """Vector KellyGame and the bare kernel on ``num_envs`` games, alternating repetitions."""
    import auction_envs

    venv = auction_envs.make_vec(KELLY_ID, num_envs=num_envs)
    venv.reset(seed=seed)
    actions = fixed_kelly_bids(venv, seed)
    bare = BareKellyKernel(venv)
    bare_bids = actions[..., 0].astype(np.float64)  # the kernel's input, as the env casts it
    for _ in range(3):  # untimed warm-up
        venv.step(actions)
        bare.step(bare_bids)
    vector_rates, bare_rates = [], []
    for _ in range(repeats):
        venv.reset(seed=seed)  # 100 steps never reach the 3000-round truncation
        vector_rates.append(_rate(lambda: venv.step(actions), steps))
        bare_rates.append(_rate(lambda: bare.step(bare_bids), steps))
    agents = num_envs * venv.n_agents
    vector, bare_rate = agents * statistics.median(vector_rates), agents * statistics.median(
        bare_rates)
    return {"num_envs": num_envs, "n_agents": venv.n_agents, "steps": steps, "repeats": repeats,
            "vector_agent_steps_per_s": vector, "bare_agent_steps_per_s": bare_rate,
            "vector_over_bare": vector / bare_rate, "load_average": load_average()}


def profile_vector_step(num_envs: int, steps: int, seed: int, top: int = 16) -> str:
    """cProfile (sorted by own time) of ``steps`` vector KellyGame steps at ``num_envs``."""
    import auction_envs

    venv = auction_envs.make_vec(KELLY_ID, num_envs=num_envs)
    venv.reset(seed=seed)
    actions = fixed_kelly_bids(venv, seed)
    venv.step(actions)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        venv.step(actions)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


ALLOCATOR_SETTINGS = {"default": {},
                      "mmap_threshold_64MiB": {"MALLOC_MMAP_THRESHOLD_": str(64 * 2**20),
                                               "MALLOC_TRIM_THRESHOLD_": str(128 * 2**20)}}


def allocator_cell(setting: str, num_envs: int, steps: int, repeats: int, seed: int
                   ) -> dict[str, Any]:
    """:func:`throughput_cell` in a fresh interpreter under a glibc malloc ``setting``.

    Above glibc's mmap threshold (128 KiB, raised dynamically as mapped blocks are freed) a fresh
    ``[B, n]`` array is a new ``mmap`` whose pages fault in at first write; the vector step
    reuses its buffers like the bare kernel, so the two settings should agree. A fresh process
    per setting makes the allocator's state (and so the figure) independent of earlier cells.
    """
    import json
    import os
    import subprocess

    code = ("import json; from benchmarks.perf_vector import throughput_cell; "
            f"print(json.dumps(throughput_cell({num_envs}, {steps}, {repeats}, {seed})))")
    environment = {**os.environ, **ALLOCATOR_SETTINGS[setting]}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True,
                          text=True, check=True, timeout=600)
    return {"setting": setting, "environment": ALLOCATOR_SETTINGS[setting],
            **json.loads(done.stdout.strip().splitlines()[-1])}


# ---------------------------------------------------------------------------- SuperSuit vs native
def supersuit_cell(num_envs: int, steps: int, repeats: int, seed: int) -> dict[str, Any]:
    """SB3 ``VecEnv.step`` agent-steps/s: SuperSuit's concat path vs ``sb3_native_vec_env``."""
    import auction_envs
    from auction_envs.wrappers.sb3 import sb3_native_vec_env, sb3_vec_env

    native = sb3_native_vec_env(KELLY_ID, num_envs=num_envs, normalize_actions=False)
    supersuit = sb3_vec_env(auction_envs.make(KELLY_ID), num_copies=num_envs)
    if native.num_envs != supersuit.num_envs:
        raise RuntimeError(f"row counts differ: {native.num_envs} vs {supersuit.num_envs}")
    rows = native.num_envs
    actions = fixed_kelly_bids(native.venv, seed).reshape(rows, 1)
    for vec in (native, supersuit):
        vec.seed(seed)
        vec.reset()
        for _ in range(3):
            vec.step(actions)

    def stepper(vec: Any) -> Any:
        return lambda: vec.step(actions)

    native_rates, supersuit_rates = [], []
    for _ in range(repeats):
        native_rates.append(_rate(stepper(native), steps))
        supersuit_rates.append(_rate(stepper(supersuit), steps))
    native_rate = rows * statistics.median(native_rates)
    supersuit_rate = rows * statistics.median(supersuit_rates)
    return {"num_envs": num_envs, "rows": rows, "steps": steps, "repeats": repeats,
            "native_agent_steps_per_s": native_rate,
            "supersuit_agent_steps_per_s": supersuit_rate,
            "native_over_supersuit": native_rate / supersuit_rate,
            "load_average": load_average()}


# ---------------------------------------------------------------------------- oracles
def _kelly_root(a: np.ndarray, c: float, eps: float, delta: float) -> np.ndarray:
    """The generic side: ``scipy.optimize.root`` (hybr) on the first-order conditions
    ``a_i s_i / (z_i (z_i + s_i)) = 1`` in ``z = exp(y)`` (positivity), from the symmetric guess.
    Valid for an interior equilibrium (checked by the caller through the residual)."""
    from scipy.optimize import root

    n = a.size
    guess = np.full(n, np.log(np.mean(a) * (n - 1) / n**2))

    def conditions(y: np.ndarray) -> np.ndarray:
        z = np.exp(y)
        s = z.sum() - z + delta
        return a * s / (z * (z + s)) - 1.0

    solution = root(conditions, guess, method="hybr", tol=1e-14)
    return np.clip(np.exp(solution.x), eps, c)


def _ce_root(theta: np.ndarray, endowments: np.ndarray, rho: float) -> np.ndarray:
    """The generic side: ``scipy.optimize.root`` (hybr) on the excess demand of the first
    ``m - 1`` goods in log-prices (last price fixed, Walras' law), from uniform prices; the
    prices normalized to sum 1."""
    from scipy.optimize import root

    from auction_envs.oracles.exchange import market_demand

    m = theta.shape[1]

    def prices(q: np.ndarray) -> np.ndarray:
        p = np.exp(np.append(q, 0.0))
        return p / p.sum()

    def excess(q: np.ndarray) -> np.ndarray:
        p = prices(q)
        return market_demand(p, endowments @ p, theta, "ces", rho=rho).sum(axis=0)[:-1] - 1.0

    solution = root(excess, np.zeros(m - 1), method="hybr", tol=1e-14)
    return prices(solution.x)


def _timed(solve: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = solve()
    return value, time.perf_counter() - start


def _timed_calls(solve: Any, calls: int) -> float:
    """The median seconds of ``calls`` back-to-back calls of ``solve``, each timed alone: warm
    caches for both sides, and a preemption (which a long solve's window catches more often
    than a short one's) does not move a median. The timer's own cost stays in (against the
    faster side)."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        solve()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def oracle_cell(oracle: str, instances: int, seed: int, calls: int = 0) -> dict[str, Any]:
    """One oracle against its generic solver over ``instances`` seeded instances: both warmed
    up on an extra instance (untimed), then interleaved per instance.

    Two figures per instance, each side measured alike: a *single call* (the call right after
    the other side's: cold caches, and the timer's own ~0.5 us weigh on a few-us solve), and
    with ``calls`` > 0 the median of ``calls`` back-to-back calls (warm: the way a learner's
    loop calls an oracle over and over; :func:`_timed_calls`). ``speedup_median`` is the
    single-call ratio; the repeated one is ``speedup_median_repeated``."""
    rng = np.random.default_rng(seed)
    problems = [_oracle_instance(oracle, rng) for _ in range(instances + 1)]
    ours_solve, generic_solve, error = _oracle_sides(oracle)
    ours_solve(problems[0])  # warm-up: imports, caches, numba compilation
    generic_solve(problems[0])
    ratios, ours_times, generic_times, errors = [], [], [], []
    repeated_ratios, ours_repeated, generic_repeated = [], [], []
    for problem in problems[1:]:
        ours, ours_t = _timed(lambda p=problem: ours_solve(p))
        generic, generic_t = _timed(lambda p=problem: generic_solve(p))
        ratios.append(generic_t / ours_t)
        ours_times.append(ours_t)
        generic_times.append(generic_t)
        errors.append(error(problem, ours, generic))
        if calls > 0:
            ours_r = _timed_calls(lambda p=problem: ours_solve(p), calls)
            generic_r = _timed_calls(lambda p=problem: generic_solve(p), calls)
            repeated_ratios.append(generic_r / ours_r)
            ours_repeated.append(ours_r)
            generic_repeated.append(generic_r)
    ours_accuracy = [e[0] for e in errors]
    generic_accuracy = [e[1] for e in errors]
    row = {"oracle": oracle, "instances": instances, "accuracy_measure": _ACCURACY[oracle],
           "ours_max_error": float(np.max(ours_accuracy)),
           "generic_max_error": float(np.max(generic_accuracy)),
           "max_difference": float(np.max([e[2] for e in errors])),
           "ours_median_us": 1e6 * statistics.median(ours_times),
           "generic_median_us": 1e6 * statistics.median(generic_times),
           "speedup_median": statistics.median(ratios), "load_average": load_average()}
    if calls > 0:
        row.update(repeated_calls=calls,
                   ours_repeated_median_us=1e6 * statistics.median(ours_repeated),
                   generic_repeated_median_us=1e6 * statistics.median(generic_repeated),
                   speedup_median_repeated=statistics.median(repeated_ratios))
    return row


_ACCURACY = {
    "kelly_nash": "best-response residual ||BR(z) - z||_2 / ||z||_2; difference: max |z - z'| / max z",
    "slicing_optimum": "welfare: ours' KKT residual, cvxpy's relative welfare gap below ours; "
                       "difference: |W - W'| / W",
    "competitive_equilibrium": "max |excess demand| at the prices; difference: max |p - p'|",
}


def _oracle_instance(oracle: str, rng: np.random.Generator) -> tuple:
    if oracle == "kelly_nash":  # heterogeneous valuations, interior equilibrium (budgets slack)
        return rng.uniform(10.0, 100.0, 10), 400.0, 1e-3, 0.1
    if oracle == "slicing_optimum":  # paper (39): N = 20 VSPs, K = 3 resources
        return rng.uniform(100, 200, 20), rng.uniform(0, 10, (20, 3))
    if oracle == "competitive_equilibrium":  # CES rho = 0.5, n = 8 agents, m = 5 goods
        theta = rng.uniform(0.5, 2.0, (8, 5))
        endowments = rng.dirichlet(np.ones(8), 5).T
        return theta, endowments, 0.5
    raise ValueError(f"oracle must be one of {sorted(_ACCURACY)}; got {oracle!r}")


def _oracle_sides(oracle: str) -> tuple[Any, Any, Any]:
    """``(ours, generic, error)``: the two solvers of a problem and ``error(problem, ours,
    generic) -> (ours' error, generic's error, difference)``."""
    if oracle == "kelly_nash":
        from auction_envs.oracles.kelly import kelly_nash_equilibrium, kelly_residual

        def kelly_error(p: tuple, z: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
            a, c, eps, delta = p
            return (float(kelly_residual(z, a, eps, c, delta) / np.linalg.norm(z)),
                    float(kelly_residual(w, a, eps, c, delta) / np.linalg.norm(w)),
                    float(np.max(np.abs(z - w)) / np.max(z)))

        return (lambda p: kelly_nash_equilibrium(*p), lambda p: _kelly_root(*p), kelly_error)
    if oracle == "slicing_optimum":
        from auction_envs.oracles.slicing import slicing_kkt_residual, slicing_welfare_optimum
        from benchmarks.iov_solver import _cvxpy_solve

        def slicing_error(p: tuple, ours: tuple, theirs: tuple) -> tuple[float, float, float]:
            welfare, value = ours[1], theirs[0]
            return (float(slicing_kkt_residual(ours[0], *p)["max"]),
                    float(max(0.0, (welfare - value) / welfare)),
                    float(abs(welfare - value) / welfare))

        return (lambda p: slicing_welfare_optimum(*p), lambda p: _cvxpy_solve(*p), slicing_error)
    if oracle == "competitive_equilibrium":
        from auction_envs.oracles.exchange import competitive_equilibrium, market_demand

        def excess(p: tuple, prices: np.ndarray) -> float:
            theta, e, rho = p
            demand = market_demand(prices, e @ prices, theta, "ces", rho=rho)
            return float(np.max(np.abs(demand.sum(axis=0) - 1.0)))

        def ce_error(p: tuple, ours: tuple, prices: np.ndarray) -> tuple[float, float, float]:
            mine = ours[1] / ours[1].sum()
            return excess(p, mine), excess(p, prices), float(np.max(np.abs(mine - prices)))

        return (lambda p: competitive_equilibrium(p[0], p[1], "ces", rho=p[2]),
                lambda p: _ce_root(*p), ce_error)
    raise ValueError(f"oracle must be one of {sorted(_ACCURACY)}; got {oracle!r}")


def profile_oracle(oracle: str, instances: int, seed: int, top: int = 14,
                   calls: int = 200) -> str:
    """cProfile (sorted by own time) of our solver, ``calls`` calls on each of ``instances``
    instances of ``oracle`` (after one untimed warm-up call; repeated so that a few-us solve
    shows above the profiler's resolution): where an oracle's time goes when it misses."""
    rng = np.random.default_rng(seed)
    problems = [_oracle_instance(oracle, rng) for _ in range(instances + 1)]
    ours_solve = _oracle_sides(oracle)[0]
    ours_solve(problems[0])
    profiler = cProfile.Profile()
    profiler.enable()
    for problem in problems[1:]:
        for _ in range(calls):
            ours_solve(problem)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


# ---------------------------------------------------------------------------- memory, PPO
def memory_cell(num_envs: int, steps: int, seed: int) -> dict[str, Any]:
    """Peak traced memory (``tracemalloc``) and RSS growth of building, resetting and stepping
    ``steps`` times the vector KellyGame with ``num_envs`` games."""
    import resource

    import auction_envs

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    venv = auction_envs.make_vec(KELLY_ID, num_envs=num_envs)
    venv.reset(seed=seed)
    actions = fixed_kelly_bids(venv, seed)
    for _ in range(steps):
        venv.step(actions)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"num_envs": num_envs, "steps": steps, "peak_traced_mb": peak / 2**20,
            "held_traced_mb": current / 2**20,
            "max_rss_growth_mb": (rss_after - rss_before) / 1024,
            "bytes_per_agent_peak": peak / (num_envs * venv.n_agents),
            "load_average": load_average()}


def ppo_cell(num_envs: int, timesteps: int, seed: int) -> dict[str, Any]:
    """SB3 PPO (MlpPolicy, n_steps 128) training timesteps/s through the native VecEnv and
    through SuperSuit, ``num_envs`` KellyGame markets each (the same rows), alternated."""
    import torch
    from stable_baselines3 import PPO

    import auction_envs
    from auction_envs.wrappers.sb3 import sb3_native_vec_env, sb3_vec_env

    torch.set_num_threads(1)

    def train(make: Any) -> float:
        vec = make()
        model = PPO("MlpPolicy", vec, n_steps=128, batch_size=256, n_epochs=2, seed=seed,
                    device="cpu", verbose=0)
        start = time.perf_counter()
        model.learn(total_timesteps=timesteps)
        return model.num_timesteps / (time.perf_counter() - start)

    native = lambda: sb3_native_vec_env(KELLY_ID, num_envs=num_envs)  # noqa: E731
    supersuit = lambda: sb3_vec_env(auction_envs.make(KELLY_ID), num_copies=num_envs)  # noqa: E731
    train(native)  # warm-up: torch and SB3 first-call costs, untimed
    native_rate, supersuit_rate = train(native), train(supersuit)
    return {"num_envs": num_envs, "timesteps": timesteps,
            "native_timesteps_per_s": native_rate, "supersuit_timesteps_per_s": supersuit_rate,
            "native_over_supersuit": native_rate / supersuit_rate, "load_average": load_average()}


# ---------------------------------------------------------------------------- report
def verdicts(payload: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets against the measured rows."""
    out: dict[str, Any] = {}
    rows = {r["num_envs"]: r for r in payload.get("throughput", [])}
    if PROFILE_ENVS in rows:
        row = rows[PROFILE_ENVS]
        out["vector_over_bare_at_4096"] = row["vector_over_bare"]
        out["fraction_of_bare_met"] = row["vector_over_bare"] >= TARGET_FRACTION_OF_BARE
    if rows:
        best = max(r["vector_agent_steps_per_s"] for r in rows.values())
        out["best_vector_agent_steps_per_s"] = best
        out["ten_million_met"] = best >= TARGET_AGENT_STEPS_PER_S
    for row in payload.get("oracles", []):
        out[f"{row['oracle']}_speedup_met"] = row["speedup_median"] >= TARGET_ORACLE_SPEEDUP
        if "speedup_median_repeated" in row:
            out[f"{row['oracle']}_repeated_speedup_met"] = (
                row["speedup_median_repeated"] >= TARGET_ORACLE_SPEEDUP)
    return out


def table(payload: dict[str, Any]) -> str:
    lines = []
    if payload.get("throughput"):
        lines.append(f"{'B':>6} {'vector ag-steps/s':>18} {'bare ag-steps/s':>16} "
                     f"{'vector/bare':>11}  load")
        for r in payload["throughput"]:
            lines.append(f"{r['num_envs']:>6} {r['vector_agent_steps_per_s']:>18,.0f} "
                         f"{r['bare_agent_steps_per_s']:>16,.0f} {r['vector_over_bare']:>11.2f}"
                         f"  {r['load_average']}")
        lines.append(f"issue 16's claim: vector KellyGame >= {TARGET_FRACTION_OF_BARE:.0%} of the "
                     f"bare kernel at B = {PROFILE_ENVS} and >= {TARGET_AGENT_STEPS_PER_S:,.0f} "
                     f"agent-steps/s on one core (VMAS: 0.89M on a GPU)")
    if payload.get("allocator"):
        lines.append(f"\nB = {PROFILE_ENVS}, fresh process per glibc malloc setting:")
        for r in payload["allocator"]:
            lines.append(f"{r['setting']:>22} {r['vector_agent_steps_per_s']:>14,.0f} "
                         f"{r['bare_agent_steps_per_s']:>14,.0f} {r['vector_over_bare']:>6.2f}")
    if payload.get("supersuit"):
        lines.append(f"\n{'B':>6} {'rows':>6} {'native ag-steps/s':>18} "
                     f"{'SuperSuit ag-steps/s':>21} {'native/SuperSuit':>16}")
        for r in payload["supersuit"]:
            lines.append(f"{r['num_envs']:>6} {r['rows']:>6} {r['native_agent_steps_per_s']:>18,.0f}"
                         f" {r['supersuit_agent_steps_per_s']:>21,.0f} "
                         f"{r['native_over_supersuit']:>16.1f}")
    if payload.get("oracles"):
        lines.append(f"\n{'oracle':<24} {'ours us':>9} {'generic us':>11} {'speedup':>8} "
                     f"{'ours err':>9} {'gen err':>9} {'diff':>9}  repeated: ours us, "
                     f"generic us, speedup")
        for r in payload["oracles"]:
            repeated = (f"  {r['ours_repeated_median_us']:.1f}, "
                        f"{r['generic_repeated_median_us']:.1f}, "
                        f"{r['speedup_median_repeated']:.1f} ({r['repeated_calls']} calls)"
                        if "speedup_median_repeated" in r else "")
            lines.append(f"{r['oracle']:<24} {r['ours_median_us']:>9.1f} "
                         f"{r['generic_median_us']:>11.1f} {r['speedup_median']:>8.1f} "
                         f"{r['ours_max_error']:>9.1e} {r['generic_max_error']:>9.1e} "
                         f"{r['max_difference']:>9.1e}{repeated}")
        lines.append(f"issue 16's claim: every oracle >= {TARGET_ORACLE_SPEEDUP:.0f}x its generic "
                     f"solver (median per-instance ratio, interleaved; single call, and the median "
                     f"of back-to-back calls)")
    for r in payload.get("memory", []):
        lines.append(f"\nmemory at B = {r['num_envs']}: peak traced {r['peak_traced_mb']:.1f} MiB "
                     f"({r['bytes_per_agent_peak']:.0f} B per agent), max RSS growth "
                     f"{r['max_rss_growth_mb']:.1f} MiB")
    for r in payload.get("ppo", []):
        lines.append(f"\nPPO ({r['timesteps']} timesteps, B = {r['num_envs']}): native "
                     f"{r['native_timesteps_per_s']:,.0f} steps/s, SuperSuit "
                     f"{r['supersuit_timesteps_per_s']:,.0f} steps/s, ratio "
                     f"{r['native_over_supersuit']:.2f}")
    return "\n".join(lines)


def plot(payload: dict[str, Any], path: str) -> None:
    plt = plt_agg()
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    series = [("throughput", "vector_agent_steps_per_s", "vector KellyGame (make_vec)", "o-"),
              ("throughput", "bare_agent_steps_per_s", "bare numpy kernel (limit)", "s--"),
              ("supersuit", "native_agent_steps_per_s", "SB3 VecEnv, native", "^-"),
              ("supersuit", "supersuit_agent_steps_per_s", "SB3 VecEnv, SuperSuit concat", "v-")]
    for section, key, label, style in series:
        rows = payload.get(section, [])
        if rows:
            axis.plot([r["num_envs"] for r in rows], [r[key] for r in rows], style, label=label)
    axis.axhline(TARGET_AGENT_STEPS_PER_S, color="grey", lw=0.8, ls=":", label="10M target")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("num_envs B (10 agents each)")
    axis.set_ylabel("agent-steps/s (one core)")
    axis.set_title("KellyGame throughput, fixed actions, 100 steps")
    axis.legend(fontsize=8)
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__, "python -m benchmarks.perf_vector")
    parser.add_argument("--quick", action="store_true",
                        help="B up to 4096, fewer oracle instances and PPO timesteps")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="what to measure (default all)")
    parser.add_argument("--num-envs", nargs="+", type=int, default=None,
                        help="throughput B values (default 1 10 100 1000 4096 10000 30000)")
    parser.add_argument("--supersuit-envs", nargs="+", type=int, default=None,
                        help="B values of the SuperSuit comparison (default 1 10 100 1000)")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per repetition")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions (median taken)")
    parser.add_argument("--instances", type=int, default=None,
                        help="oracle instances (default 30, --quick 10)")
    parser.add_argument("--oracle-calls", type=int, default=None,
                        help="back-to-back calls per side and instance of the repeated oracle "
                             "timing, their median taken (default 20, --quick 5; 0: single calls "
                             "only)")
    parser.add_argument("--memory-envs", type=int, default=30000, help="B of the memory cell")
    parser.add_argument("--ppo-envs", type=int, default=4, help="KellyGame markets of PPO")
    parser.add_argument("--ppo-timesteps", type=int, default=None,
                        help="PPO timesteps per side (default 4096, --quick 2048)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the games and the actions")
    parser.add_argument("--no-profile", action="store_true",
                        help="no cProfile of the vector step even where a target is missed")
    add_output_arguments(parser, png=True)
    args = parser.parse_args(argv)
    num_envs = args.num_envs or list(QUICK_NUM_ENVS if args.quick else FULL_NUM_ENVS)
    supersuit_envs = args.supersuit_envs or list(QUICK_SUPERSUIT_ENVS if args.quick
                                                 else FULL_SUPERSUIT_ENVS)
    instances = args.instances or (10 if args.quick else 30)
    oracle_calls = args.oracle_calls if args.oracle_calls is not None else (5 if args.quick
                                                                               else 20)
    timesteps = args.ppo_timesteps or (2048 if args.quick else 4096)
    out = IncrementalResults(args.json, {"machine": versions(), "load_before": load_average(),
                                         "command": "python -m benchmarks.perf_vector "
                                                    + " ".join(argv if argv is not None
                                                               else sys.argv[1:])})
    store = cell_store(args)
    show = not args.no_progress

    def section(name: str, fn: Any, jobs: list[tuple]) -> None:
        if name in args.sections:
            out.payload[name] = []
            results = run_jobs(fn, jobs, workers=1, show_progress=show, desc=name, store=store,
                               on_result=lambda _, result: out.add(result, name))
            out.update({name: results})  # job order (a resumed run hands stored cells first)

    section("throughput", throughput_cell,
            [(b, args.steps, args.repeats, args.seed) for b in num_envs])
    section("allocator", allocator_cell,
            [(setting, PROFILE_ENVS, args.steps, args.repeats, args.seed)
             for setting in ALLOCATOR_SETTINGS])
    section("supersuit", supersuit_cell,
            [(b, args.steps, args.repeats, args.seed) for b in supersuit_envs])
    section("oracles", oracle_cell,
            [(name, instances, args.seed, oracle_calls) for name in
             ("kelly_nash", "slicing_optimum", "competitive_equilibrium")])
    section("memory", memory_cell, [(args.memory_envs, args.steps, args.seed)])
    section("ppo", ppo_cell, [(args.ppo_envs, timesteps, args.seed)])
    result = verdicts(out.payload)
    missed = not (result.get("fraction_of_bare_met", True) and result.get("ten_million_met", True))

    def stored_profile(fn: Any, *job: Any) -> str:
        # a profile is a cell too: a resumed run reuses it instead of profiling again
        return run_jobs(fn, [job], show_progress=False, store=store)[0]

    if missed and "throughput" in args.sections and not args.no_profile:
        result["profile_at_4096"] = stored_profile(profile_vector_step, PROFILE_ENVS, args.steps,
                                                   args.seed)
    if "oracles" in args.sections and not args.no_profile:
        for row in out.payload["oracles"]:
            if row["speedup_median"] < TARGET_ORACLE_SPEEDUP:
                result[f"profile_{row['oracle']}"] = stored_profile(profile_oracle, row["oracle"],
                                                                    instances, args.seed)
    out.update(verdicts=result, load_after=load_average(),
               targets={"fraction_of_bare": TARGET_FRACTION_OF_BARE,
                        "agent_steps_per_s": TARGET_AGENT_STEPS_PER_S,
                        "oracle_speedup": TARGET_ORACLE_SPEEDUP})
    info = out.payload["machine"]
    print(f"load average before: {out.payload['load_before']}  after: {load_average()}  "
          f"({info['cpu']}, {info['cores']} cores)")
    print(table(out.payload))
    print({k: v for k, v in result.items() if not k.startswith("profile_")})
    for key, text in result.items():
        if key.startswith("profile_"):
            print(f"\ncProfile ({key[len('profile_'):]}, a target is missed):")
            print(text)
    if args.png and out.payload.get("throughput"):
        plot(out.payload, args.png)
        print(f"figure: {args.png}")
    return out.payload


if __name__ == "__main__":
    main(sys.argv[1:])
