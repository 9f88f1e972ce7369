"""Step speed of the dict envs: KellyGame-v0 against MPE2, and every market before/after a refactor.

Issue 11 ("core and shell") asks, from one run of ``python -m benchmarks.perf``:

1. KellyGame-v0's dict-env steps/s as a ratio to MPE2's ``simple_spread_v3`` (N = 3, continuous
   actions): target at least 20x;
2. every market's dict-env steps/s for the current tree and for a baseline git ref (default
   ``c3e8b12``, the code before the refactor), and the ratio after/before: target at least 3x.

Method. Each env gets a *fixed* joint action: one seeded valid action per agent (uniform inside
its Box, infinite bounds replaced by +-1; a uniform level of a discrete space), reused at every
step, so the figure measures the env and not an action sampler. One measurement = ``--steps``
steps (episodes that end are reset inside the timed loop, identically for both trees) after an
untimed warm-up (reset and a few steps: caches, numba compilation). Both trees are measured by
long-lived worker subprocesses (``PYTHONPATH`` pointing at the tree; the baseline is checked out
into a temporary ``git worktree``), each holding its envs, and the two sides of every ratio are
measured *side by side*: each of ``--repeats`` repetitions measures an id on both trees back to
back (alternating which goes first), and Kelly and MPE2 back to back in the current tree's worker.
Reported figures are medians over the repetitions; each ratio is given twice: the ratio of those
medians, and the *paired* ratio, the median over repetitions of each repetition's own ratio (its two
sides measured back to back). The targets are read on the paired ratio: on a shared machine a slow
spell of a few seconds depresses a run of consecutive samples of one side (seen on 2026-12-03: three
of five samples of one tree 20-40% low), which moves the ratio of medians but mostly cancels within a
repetition. Under load the absolute figures are noisy; the paired ratios much less so.

Resume. One cell is one ratio (its pair, all repetitions); with ``--json PATH`` each finished cell
is kept in ``PATH.cells.jsonl`` and a rerun with the same arguments, on the same commits, measures
only the missing ones (``--restart`` measures all again).

Examples::

    python -m benchmarks.perf                      # all, baseline c3e8b12, JSON to stdout table
    python -m benchmarks.perf --quick --json perf.json
    python -m benchmarks.perf --baseline HEAD~3 --ids auction_envs/KellyGame-v0
    python -m benchmarks.perf --no-baseline        # only the current tree (and MPE2)
    python -m benchmarks.perf --vector-only --vector-args "--quick --sections oracles"

Vector envs and oracles (issue 16, item 4). After the dict-env ratios the same command runs
``benchmarks.perf_vector`` (vector KellyGame vs the bare numpy kernel over ``num_envs``, SuperSuit's
concat path vs the native VecEnv, each oracle vs its generic solver, peak memory at B = 30,000,
PPO through both VecEnvs; see that module): ``--no-vector`` skips it, ``--vector-only`` runs only
it, ``--vector-args "..."`` passes it options (``--quick`` is passed on). With ``--json PATH`` its
payload goes under ``"vector"`` in PATH and its own JSON (and resumable cells) beside it, at
``PATH`` with ``.json`` replaced by ``.vector.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "c3e8b12"
KELLY_ID = "auction_envs/KellyGame-v0"
MPE_ID = "mpe2/simple_spread_v3"
#: one id per market family (``--all-ids`` adds the variants)
#: (a tree that does not register an id measures the newest version of its name: ``resolve_id``)
FAMILY_IDS = (
    "auction_envs/KellyGame-v0",
    "auction_envs/V2XOffloading-v1",
    "auction_envs/CloudDoubleAuction-v1",
    "auction_envs/ExchangeEconomy-v0",
    "auction_envs/ExchangeEconomyMechanism-v0",
    "auction_envs/IoVSlicing-v1",
)
TARGET_MPE_RATIO = 20.0
TARGET_SPEEDUP = 3.0


# ---------------------------------------------------------------------------- worker side
def _current_sampler() -> Any:
    """``testing.golden.sample_action`` of *this* checkout, loaded from its file: a baseline
    worker imports ``auction_envs`` from an older tree (which may lack the module), and both
    sides of a ratio must play the same actions."""
    import importlib.util

    path = REPO / "auction_envs" / "testing" / "golden.py"
    spec = importlib.util.spec_from_file_location("_perf_golden_sampler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.sample_action


def fixed_action(space: Any, rng: np.random.Generator) -> Any:
    """A seeded valid action of ``space`` (Box: uniform in bounds, inf replaced by +-1)."""
    global _SAMPLE_ACTION
    if _SAMPLE_ACTION is None:
        _SAMPLE_ACTION = _current_sampler()
    return _SAMPLE_ACTION(space, rng, unbounded=1.0)


_SAMPLE_ACTION: Any = None


def resolve_id(env_id: str) -> str:
    """``env_id`` if this tree registers it, else the newest registered version of the same name
    (a version bump, e.g. ``CloudDoubleAuction-v0`` -> ``-v1``, keeps the market comparable)."""
    if env_id == MPE_ID:
        return env_id
    import auction_envs

    registered = list(auction_envs.list_envs())
    if env_id in registered:
        return env_id
    name = env_id.rsplit("-v", 1)[0]
    versions = [(int(other.rsplit("-v", 1)[1]), other) for other in registered
                if other.rsplit("-v", 1)[0] == name and other.rsplit("-v", 1)[1].isdigit()]
    return max(versions)[1] if versions else env_id  # unknown: make() raises the usual error


def make_env(env_id: str, steps: int) -> Any:
    if env_id == MPE_ID:
        from mpe2 import simple_spread_v3

        # horizon beyond the measured steps: no reset in the loop, as for KellyGame (3000)
        return simple_spread_v3.parallel_env(N=3, continuous_actions=True,
                                             max_cycles=max(steps + 10, 25))
    import auction_envs

    return auction_envs.make(env_id)


class Bench:
    """One env, its fixed joint action, and a timed loop of ``steps`` dict steps."""

    def __init__(self, env_id: str, steps: int, seed: int) -> None:
        self.env = make_env(env_id, steps)
        self.seed = seed
        self.env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        self.actions = {agent: fixed_action(self.env.action_space(agent), rng)
                        for agent in self.env.possible_agents}
        self.run(min(steps, 20))  # warm-up: caches, numba compilation

    def run(self, steps: int) -> float:
        env, actions = self.env, self.actions
        if not env.agents:
            env.reset(seed=self.seed)
        start = time.perf_counter()
        for _ in range(steps):
            if not env.agents:
                env.reset()
            env.step(actions)
        return steps / (time.perf_counter() - start)


def worker() -> None:
    """Answer ``{"id", "steps", "seed"}`` lines on stdin with ``{"steps_per_s"}`` lines."""
    import warnings

    warnings.simplefilter("ignore")
    benches: dict[str, Bench] = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("hello"):
            import auction_envs

            reply: dict[str, Any] = {"auction_envs": str(Path(auction_envs.__file__).parent)}
        else:
            try:
                key = resolve_id(request["id"])
                if key not in benches:
                    benches[key] = Bench(key, request["steps"], request["seed"])
                reply = {"steps_per_s": benches[key].run(request["steps"]), "id": key}
            except Exception as error:  # reported, the run goes on with the other ids
                reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


# ---------------------------------------------------------------------------- driver side
class Worker:
    """A worker subprocess importing ``auction_envs`` from ``tree``."""

    def __init__(self, tree: Path, label: str) -> None:
        self.label = label
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"], cwd=tree, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.source = self.ask({"hello": True})["auction_envs"]

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.label} worker died (see its stderr above)")
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.strip()


class WorkerPool:
    """The ``current`` and ``baseline`` workers, started on first use (a resumed run whose cells
    are all stored starts none; the baseline's temporary ``git worktree`` is made only then)."""

    def __init__(self) -> None:
        self.baseline_commit: str | None = None
        self.workers: dict[str, Worker] = {}
        self.temporary: Path | None = None

    def get(self, label: str) -> Worker:
        if label not in self.workers:
            if label == "current":
                self.workers[label] = Worker(REPO, "current")
            else:
                if self.baseline_commit is None:
                    raise RuntimeError("no baseline commit set (--no-baseline?)")
                self.temporary = Path(tempfile.mkdtemp(prefix="perf-baseline-"))
                git("worktree", "add", "--detach", str(self.temporary / "tree"),
                    self.baseline_commit)
                self.workers[label] = Worker(self.temporary / "tree", "baseline")
        return self.workers[label]

    def close(self) -> None:
        for w in self.workers.values():
            w.close()
        self.workers.clear()
        if self.temporary is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(self.temporary / "tree")],
                           cwd=REPO, check=False, capture_output=True)
            subprocess.run(["rm", "-rf", str(self.temporary)], check=False)
            self.temporary = None


#: The workers of the running ``main`` (module level, so a cell is a plain function of its job).
POOL = WorkerPool()


def measure_pair(kind: str, env_id: str, steps: int, repeats: int, seed: int,
                 current: dict[str, Any], baseline_commit: str | None) -> dict[str, Any]:
    """One ratio's measurements, a cell of :func:`benchmarks.common.run_jobs`: ``repeats``
    repetitions, each measuring both sides back to back (alternating which goes first).

    ``kind`` ``"mpe"``: ``env_id`` (KellyGame) and MPE2 in the current tree's worker; ``"market"``:
    ``env_id`` in the current tree and, with a ``baseline_commit``, in the baseline's. The job
    names the current tree (``current``: commit and a hash of its tracked changes) and the
    baseline commit, so a stored cell is reused only for the same code."""
    del current  # in the job only to key the cell
    samples: dict[str, dict[str, list[float]]] = {}
    errors: dict[str, str] = {}
    request = {"steps": steps, "seed": seed}
    labels = ["current"] + (["baseline"] if baseline_commit else [])
    for repeat in range(repeats):
        if kind == "mpe":  # Kelly and MPE2 back to back, in the current tree
            pair = (env_id, MPE_ID) if repeat % 2 == 0 else (MPE_ID, env_id)
            for one in pair:
                record(samples, errors, f"current|{one}|mpe",
                       POOL.get("current").ask({**request, "id": one}))
        else:
            for label in labels if repeat % 2 == 0 else list(reversed(labels)):
                record(samples, errors, f"{label}|{env_id}",
                       POOL.get(label).ask({**request, "id": env_id}))
    sources = {label: POOL.get(label).source for label in labels}
    return {"samples": samples, "errors": errors, "sources": sources}


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    from importlib import metadata

    for package in ("numpy", "scipy", "gymnasium", "pettingzoo", "mpe2", "numba"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "load_average_at_start": load,
            "platform": platform.platform(), "versions": versions}


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    if argv is None and "--worker" in sys.argv[1:]:
        worker()
        return 0
    sys.path.insert(0, str(REPO))
    from benchmarks.common import (
        IncrementalResults,
        add_output_arguments,
        benchmark_parser,
        cell_store,
        run_jobs,
    )

    parser = benchmark_parser(__doc__, "python -m benchmarks.perf")
    parser.add_argument("--steps", type=int, default=2000,
                        help="steps per measurement (default 2000; --quick: 300)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="interleaved repetitions; figures are medians (default 5; --quick: 3)")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repetitions")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resets and fixed actions")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="REF",
                        help=f"git ref measured as 'before' (default {DEFAULT_BASELINE}, the code "
                             "before the core/shell refactor)")
    parser.add_argument("--no-baseline", action="store_true", help="measure the current tree only")
    parser.add_argument("--ids", nargs="+", default=None, metavar="ID",
                        help="env ids to compare (default: one per market family)")
    parser.add_argument("--all-ids", action="store_true", help="every registered id")
    parser.add_argument("--no-mpe", action="store_true", help="skip the MPE2 comparison")
    parser.add_argument("--no-vector", action="store_true",
                        help="skip the vector-env and oracle section (benchmarks.perf_vector)")
    parser.add_argument("--vector-only", action="store_true",
                        help="run only the vector-env and oracle section")
    parser.add_argument("--vector-args", default="", metavar="ARGS",
                        help="options of benchmarks.perf_vector, one quoted string")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = min(args.steps, 300), min(args.repeats, 3)
    if args.steps < 1 or args.repeats < 1:
        parser.error("--steps and --repeats must be positive")
    if args.vector_only:
        run_vector_section(args, IncrementalResults(args.json, {"benchmark": "perf"}))
        return 0

    if args.all_ids:
        import auction_envs

        ids = list(auction_envs.list_envs())
    else:
        ids = list(args.ids or FAMILY_IDS)
    # the current tree as the cells' keys see it: the commit and a hash of the tracked changes
    # (untracked files, such as this run's own --json inside the repo, do not count)
    changes = git("diff", "HEAD")
    current = {"commit": git("rev-parse", "HEAD"), "dirty": bool(changes),
               "diff_sha256": hashlib.sha256(changes.encode()).hexdigest()[:16] if changes else None}
    results = IncrementalResults(args.json, {
        "benchmark": "perf", "steps": args.steps, "repeats": args.repeats, "seed": args.seed,
        "machine": machine(), "current": current,
    })
    baseline_commit = None
    if not args.no_baseline:
        baseline_commit = git("rev-parse", "--verify", f"{args.baseline}^{{commit}}")
        results.update(baseline={"ref": args.baseline, "commit": baseline_commit})
    # one cell per ratio: (Kelly, MPE2) and each id (current, baseline), measured side by side
    jobs = [("mpe", KELLY_ID, args.steps, args.repeats, args.seed, current, None)] \
        if not args.no_mpe else []
    jobs += [("market", env_id, args.steps, args.repeats, args.seed, current, baseline_commit)
             for env_id in ids]
    samples: dict[str, dict[str, list[float]]] = {}
    errors: dict[str, str] = {}
    sources: dict[str, str] = {}

    def merge(cells: list[dict[str, Any]]) -> None:
        for merged in (samples, errors, sources):
            merged.clear()
        for cell in cells:
            samples.update(cell["samples"])
            errors.update(cell["errors"])
            sources.update(cell["sources"])

    finished: dict[int, dict[str, Any]] = {}

    def save(index: int, cell: dict[str, Any]) -> None:
        finished[index] = cell
        merge([finished[k] for k in sorted(finished)])
        results.update(sources=dict(sources), samples=samples, errors=errors,
                       finished_cells=len(finished))

    POOL.baseline_commit = baseline_commit
    try:
        cells = run_jobs(measure_pair, jobs, on_result=save, show_progress=not args.no_progress,
                         desc="ratios", store=cell_store(args))  # a rerun resumes (--json)
    finally:
        POOL.close()
    merge(cells)  # in job order, whichever cells came from the store
    summary = summarize(samples, ids, not args.no_mpe, baseline_commit is not None)
    results.update(sources=dict(sources), samples=samples, errors=errors,
                   finished_cells=len(cells), summary=summary)
    print_summary(summary, args, errors)
    if not args.no_vector:
        run_vector_section(args, results)
    return 0


def vector_json_path(json_path: str | None) -> str | None:
    """Where the vector section keeps its own JSON (and its cells) beside ``--json PATH``."""
    if not json_path:
        return None
    stem = json_path[:-len(".json")] if json_path.endswith(".json") else json_path
    return f"{stem}.vector.json"


def run_vector_section(args: Any, results: Any) -> dict[str, Any]:
    """``benchmarks.perf_vector`` with ``--vector-args`` (and this run's ``--quick``,
    ``--no-progress``, ``--restart``), its payload stored under ``"vector"`` in ``results``.
    Its cells resume from its own JSON's cell store, like every other cell of this command."""
    import shlex

    from benchmarks import perf_vector

    vector_args = shlex.split(args.vector_args)
    for flag, given in (("--quick", args.quick), ("--no-progress", args.no_progress),
                        ("--restart", args.restart)):
        if given and flag not in vector_args:
            vector_args.append(flag)
    path = vector_json_path(args.json)
    if path and "--json" not in vector_args:
        vector_args += ["--json", path]
    print("\nvector envs and oracles: python -m benchmarks.perf_vector " + shlex.join(vector_args))
    payload = perf_vector.main(vector_args)
    results.update(vector=payload)
    return payload


def record(samples: dict[str, dict[str, list[float]]], errors: dict[str, str], key: str,
           reply: dict[str, Any]) -> None:
    if "error" in reply:
        errors[key] = reply["error"]
    else:
        cell = samples.setdefault(key, {"steps_per_s": []})
        cell["steps_per_s"].append(reply["steps_per_s"])
        if "id" in reply:  # the id the tree measured (see resolve_id)
            cell["measured_id"] = reply["id"]


def summarize(samples: dict[str, dict[str, list[float]]], ids: list[str], mpe: bool,
              baseline: bool) -> dict[str, Any]:
    def median(key: str) -> float | None:
        return median_or_none(samples.get(key, {}).get("steps_per_s", []))

    def measured(key: str) -> str | None:
        return samples.get(key, {}).get("measured_id")

    def paired(top: str, bottom: str) -> float | None:
        """The median over repetitions of each repetition's own ratio (its two sides were
        measured back to back, so a slow spell of the machine falls on both)."""
        a = samples.get(top, {}).get("steps_per_s", [])
        b = samples.get(bottom, {}).get("steps_per_s", [])
        if not a or len(a) != len(b):
            return None
        return statistics.median(x / y for x, y in zip(a, b))

    def meets(value: float | None, target: float) -> bool | None:
        return None if value is None else value >= target

    summary: dict[str, Any] = {}
    if mpe:
        kelly, other = median(f"current|{KELLY_ID}|mpe"), median(f"current|{MPE_ID}|mpe")
        summary["kelly_vs_mpe"] = {"kelly_steps_per_s": kelly, "mpe_steps_per_s": other,
                                   "ratio": ratio(kelly, other),
                                   "paired_ratio": paired(f"current|{KELLY_ID}|mpe",
                                                          f"current|{MPE_ID}|mpe"),
                                   "target": TARGET_MPE_RATIO}
        summary["kelly_vs_mpe"]["meets_target"] = meets(summary["kelly_vs_mpe"]["paired_ratio"],
                                                        TARGET_MPE_RATIO)
    markets = {}
    for env_id in ids:
        after = median(f"current|{env_id}")
        before = median(f"baseline|{env_id}") if baseline else None
        markets[env_id] = {"after_steps_per_s": after, "before_steps_per_s": before,
                           "speedup": ratio(after, before),
                           "paired_speedup": paired(f"current|{env_id}", f"baseline|{env_id}")
                           if baseline else None, "target": TARGET_SPEEDUP,
                           "before_id": measured(f"baseline|{env_id}") if baseline else None}
        markets[env_id]["meets_target"] = meets(markets[env_id]["paired_speedup"], TARGET_SPEEDUP)
        if mpe:  # every market against the same run's MPE2 steps/s
            markets[env_id]["over_mpe2"] = ratio(after, summary["kelly_vs_mpe"]["mpe_steps_per_s"])
    summary["markets"] = markets
    return summary


def verdict(meets: bool | None) -> str:
    return "-" if meets is None else "met" if meets else "NOT met"


def print_summary(summary: dict[str, Any], args: Any, errors: dict[str, str]) -> None:
    print(f"\nmedians of {args.repeats} interleaved repetitions of {args.steps} steps, fixed "
          "actions, dict API")
    if "kelly_vs_mpe" in summary:
        k = summary["kelly_vs_mpe"]
        print(f"KellyGame-v0 {fmt(k['kelly_steps_per_s'])} steps/s vs MPE2 simple_spread_v3 "
              f"(N=3, continuous) {fmt(k['mpe_steps_per_s'])} steps/s: ratio "
              f"{fmt(k['ratio'], '.2f')}x, paired {fmt(k.get('paired_ratio'), '.2f')}x "
              f"(issue 11 target >= {TARGET_MPE_RATIO:g}x: {verdict(k.get('meets_target'))})")
    print(f"\n| id | before ({args.baseline if not args.no_baseline else '-'}) steps/s | after "
          f"steps/s | after/before | paired after/before (target >= {TARGET_SPEEDUP:g}x) | "
          "met | after / MPE2 |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for env_id, row in summary["markets"].items():
        before_id = row.get("before_id")
        label = env_id if before_id in (None, env_id) else f"{env_id} (before: {before_id})"
        print(f"| {label} | {fmt(row['before_steps_per_s'])} | {fmt(row['after_steps_per_s'])} | "
              f"{fmt(row['speedup'], '.2f')} | {fmt(row.get('paired_speedup'), '.2f')} | "
              f"{verdict(row.get('meets_target'))} | {fmt(row.get('over_mpe2'), '.2f')} |")
    print("after/before: the ratio of the medians; paired: the median of the repetitions' own "
          "ratios (the verdict: each repetition measures both sides back to back)")
    for key, error in errors.items():
        print(f"error {key}: {error}")


if __name__ == "__main__":
    raise SystemExit(main())
