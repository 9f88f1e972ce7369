"""The main job: a quick run of every market with its reference learners or policies, each metric
printed beside the market's reference solution (equilibrium or optimum).

Every ``benchmarks/quick_<market>.py`` module provides ``quick_run(seed) -> list[dict]`` with rows
``{"env_id", "policy", "metric", "value", "reference"}``; this script runs them all (each in well
under a minute), prints one table, and with ``--json PATH`` writes the rows. Rows are written after
each market, so a crash in one market keeps the others' results; failures are reported at the end
and make the exit status non-zero. Each finished market is kept in ``PATH.cells.jsonl``: a rerun
with the same ``--json PATH`` and ``--seed`` runs only the missing (or failed) markets.

    python -m benchmarks.quick_run [--only kelly,v2x] [--seed 0] [--json results/quick.json]
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import sys
import time
import traceback

import benchmarks
from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    progress,
    run_jobs,
)


def discover_markets() -> list[str]:
    """The ``quick_<market>`` modules of the benchmarks package, by market name."""
    return sorted(m.name.removeprefix("quick_") for m in pkgutil.iter_modules(benchmarks.__path__)
                  if m.name.startswith("quick_") and m.name != "quick_run")


def format_value(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return "–" if value is None else str(value)


def format_table(rows: list[dict]) -> str:
    header = ("env_id", "policy", "metric", "value", "reference")
    cells = [header] + [tuple(format_value(row.get(k)) for k in header) for row in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def market_cell(market: str, seed: int) -> list[dict]:
    """The rows of one market's ``quick_run(seed)``, each with its market and the wall time (a
    job of :func:`benchmarks.common.run_jobs`)."""
    started = time.perf_counter()
    module = importlib.import_module(f"benchmarks.quick_{market}")
    market_rows = module.quick_run(seed=seed)
    for row in market_rows:
        row.setdefault("market", market)
        row["seconds"] = round(time.perf_counter() - started, 2)
    return market_rows


def main(argv: list[str] | None = None) -> int:
    markets = discover_markets()
    parser = benchmark_parser(__doc__, "python -m benchmarks.quick_run")
    parser.add_argument("--only", default="", help=f"comma-separated markets among {markets}")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    add_output_arguments(parser, json_help="also write the rows to PATH (after each market; a "
                                           "rerun with the same PATH runs only missing markets)")
    args = parser.parse_args(argv)
    chosen = [m for m in markets if not args.only or m in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - set(markets)
    if unknown:
        parser.error(f"unknown markets {sorted(unknown)}; choose among {markets}")

    results = IncrementalResults(args.json, [])
    store = cell_store(args)  # one cell per market; a failed market is not stored, so it reruns
    failures: list[str] = []
    for market in progress(chosen, len(chosen), "markets", not args.no_progress):
        try:
            [market_rows] = run_jobs(market_cell, [(market, args.seed)], show_progress=False,
                                     store=store)
        except Exception:  # one market failing must not lose the others
            failures.append(f"{market}:\n{traceback.format_exc()}")
            continue
        results.set([*results.payload, *market_rows])

    print(format_table(results.payload))
    for failure in failures:
        print(f"\nFAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
