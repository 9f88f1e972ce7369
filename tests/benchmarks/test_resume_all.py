"""Every benchmark's ``--json PATH`` resumes through ``benchmarks.common.CellStore`` (issue 19).

Each script runs once at a tiny size with ``--json``; then

* a rerun with the cell function(s) replaced by one that raises must finish from the stored
  cells alone and write the same JSON;
* with one cell deleted from ``PATH.cells.jsonl`` (what a kill mid-run leaves), a rerun computes
  exactly that cell and writes the uninterrupted run's JSON (timings aside: a re-measured cell
  cannot repeat its wall time);
* a rerun with any argument that changes the result changed must compute cells again (the
  argument is part of the cells' keys).
"""

from __future__ import annotations

import functools
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

TIMINGS = {"seconds", "steps_per_s", "steps_per_second", "us_per_request", "validation_share",
           "vectorized_us", "python_loop_us", "speedup", "train_seconds", "rss_mib_before_env",
           "rss_mib_start", "rss_mib_end", "peak_rss_mib", "ours_median_us", "numpy_median_us",
           "cvxpy_median_ms", "speedup_median", "speedup_numpy_median",
           "ours_interleaved_median_us", "speedup_interleaved_median", "meets_requirement",
           "kelly_steps_per_s", "mpe_steps_per_s", "ratio", "after_steps_per_s",
           "before_steps_per_s", "over_mpe2"}


@dataclass
class Case:
    module: str
    argv: list[str]
    functions: tuple[str, ...]  # the module's cell functions (jobs of run_jobs)
    cells: int  # lines in PATH.cells.jsonl after a full run
    changed: list[list[str]] = field(default_factory=list)  # arguments that change the result
    patches: dict[str, Any] = field(default_factory=dict)  # module constants, for a tiny size
    timed: bool = False  # the JSON holds wall times (compared without them)
    per_run: tuple[str, ...] = ()  # top-level keys describing the run, not the cells


KELLY = "auction_envs/KellyGame-v0"
CASES = {
    "kelly_table1": Case("kelly_table1", ["--runs", "1"], ("cell",), 7,
                         [["--runs", "2"], ["--seed", "1"]],
                         {"HORIZON": 40, "NS": (2,), "GAMMAS": (0,)}),
    "kelly_heterogeneous": Case("kelly_heterogeneous", ["--runs", "1"], ("heterogeneous_cell",), 18,
                                [["--runs", "2"], ["--seed", "1"], ["--rate", "V"]],
                                {"HORIZON": 30, "PAIRS": (("BR", "OGD"),)}),
    "cloud_comparison": Case("cloud_comparison", ["--episodes", "1", "--steps", "3"],
                             ("config_cell",), 6,
                             [["--episodes", "2"], ["--steps", "4"], ["--seed", "1"],
                              ["--markup", "0.3"], ["--policy", "random"],
                              ["--step-seconds", "2"]]),
    "cloud_comparison_sweep": Case("cloud_comparison",
                                   ["--sweep", "0,1.5", "--seeds", "2", "--episodes", "1",
                                    "--steps", "3"], ("markup_cell",), 8,
                                   [["--steps", "4"], ["--seed", "1"], ["--episodes", "2"],
                                    ["--step-seconds", "2"]]),
    "cloud_comparison_best_response": Case("cloud_comparison",
                                           ["--best-response", "0,1", "--seeds", "2", "--rounds",
                                            "1", "--steps", "3"], ("markup_cell",), 20,
                                           [["--steps", "4"], ["--seed", "1"],
                                            ["--best-response", "0,0.5"]]),
    "reproduce_rtrm": Case("reproduce_rtrm",
                           ["--seeds", "1", "--eval-episodes", "1", "--train-steps", "8",
                            "--ppo-steps", "0", "--markups", "0.5", "--steps", "3",
                            "--fair-env-id", "", "--maddpg", "MADDPG", "MADDPG-team"],
                           ("policy_cell",), 6,
                           [["--steps", "4"], ["--eval-episodes", "2"], ["--train-steps", "9"],
                            ["--baseline-markup", "0.3"], ["--env-kwargs", '{"step_seconds": 2}']],
                           timed=True),
    "iov_slicers": Case("iov_slicers", ["--seeds", "2", "--rounds", "12"], ("episode_cell",), 4,
                        [["--rounds", "13"], ["--n", "5"]]),
    "iov_solver": Case("iov_solver", ["--instances", "2", "--sizes", "4", "5"], ("size_cell",), 2,
                       [["--instances", "3"], ["--seed", "1"]], timed=True),
    "iov_incentives": Case("iov_incentives", ["--seeds", "1", "--no-plots"],
                           ("dsic_cell", "sweep_cell", "collusion_cell"), 4, [["--seeds", "2"]],
                           {"FACTORS": (0.5, 1.0), "COLLUSION_GRID": (0.5, 1.5)}),
    "iov_information": Case("iov_information", [], ("dvcg_floats",), 2,
                            patches={"SIZES": (4, 5), "ROUNDS": 10}),
    "v2x_throughput": Case("v2x_throughput", ["--steps", "20"], ("episode", "auction_case"), 4,
                           [["--steps", "21"]],
                           {"AUCTION_CASES": ((5, 2, 20, 0), (30, 10, 2, 20))}, timed=True),
    # the dict-env cells; the vector section's resume is tests/benchmarks/test_perf_vector.py's
    "perf": Case("perf", ["--steps", "5", "--repeats", "1", "--no-baseline", "--no-vector",
                          "--ids", KELLY],
                 ("measure_pair",), 2, [["--steps", "6"], ["--repeats", "2"], ["--seed", "1"]],
                 timed=True, per_run=("machine",)),
    "soak": Case("soak", ["--steps", "20", "--in-process", "--ids", KELLY,
                          "auction_envs/IoVSlicing-v1"], ("soak_one",), 2,
                 [["--steps", "21"], ["--seed", "1"]], timed=True),
    "soak_subprocesses": Case("soak", ["--steps", "20", "--workers", "2", "--ids", KELLY,
                                       "auction_envs/IoVSlicing-v1"], ("run_isolated",), 2,
                              timed=True),
    "quick_run": Case("quick_run", ["--only", "kelly,iov"], ("market_cell",), 2, [["--seed", "1"]],
                      timed=True),
}
SLOW = {"reproduce_rtrm", "perf", "soak_subprocesses", "iov_incentives",
        "cloud_comparison_best_response"}


class Recomputed(BaseException):
    """Raised by a cell function that must not run (BaseException: no script swallows it)."""


def _strip(value: Any, drop: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_strip(v, drop) for v in value]
    return value


def canonical(path: Path, case: Case, timings: bool = True) -> str:
    """The JSON file as sorted text, without the per-run keys and (``timings`` False) timings."""
    data = json.loads(path.read_text())
    drop = set(case.per_run) | (set() if timings or not case.timed else TIMINGS)
    return json.dumps(_strip(data, drop), sort_keys=True)


def patch_cells(monkeypatch, module, case: Case, behaviour) -> list[tuple]:
    """Replace each cell function by ``behaviour(original, args)``; returns the calls seen."""
    calls: list[tuple] = []
    for name in case.functions:
        original = getattr(module, name)

        @functools.wraps(original)  # keeps __name__: the cells' keys stay the same
        def wrapper(*args, _original=original, **kwargs):
            calls.append(args)
            return behaviour(_original, args, kwargs)

        monkeypatch.setattr(module, name, wrapper)
    return calls


def refuse(original, args, kwargs):
    raise Recomputed(f"{original.__name__}{args} ran again")


def run_through(original, args, kwargs):
    return original(*args, **kwargs)


def setup(case: Case, monkeypatch, tmp_path: Path):
    module = importlib.import_module(f"benchmarks.{case.module}")
    for name, value in case.patches.items():
        monkeypatch.setattr(module, name, value)
    path = tmp_path / "result.json"
    argv = [*case.argv, "--json", str(path), "--no-progress"]
    return module, path, argv, Path(f"{path}.cells.jsonl")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in CASES])
def test_a_rerun_reuses_the_stored_cells_and_runs_only_the_missing_ones(name, tmp_path,
                                                                        monkeypatch, capsys):
    case = CASES[name]
    module, path, argv, cells = setup(case, monkeypatch, tmp_path)
    module.main(argv)
    uninterrupted = canonical(path, case)
    lines = cells.read_text().splitlines()
    assert len(lines) == case.cells

    # every cell is stored: a rerun computes nothing and writes the same JSON
    patch_cells(monkeypatch, module, case, refuse)
    module.main(argv)
    assert canonical(path, case) == uninterrupted

    # a lost cell (a kill before it finished): only that one runs again
    monkeypatch.undo()
    module, path, argv, cells = setup(case, monkeypatch, tmp_path)
    lost = len(lines) // 2
    cells.write_text("".join(line + "\n" for k, line in enumerate(lines) if k != lost))
    calls = patch_cells(monkeypatch, module, case, run_through)
    module.main(argv)
    assert len(calls) == 1
    assert json.loads(lines[lost])["key"] in {json.loads(line)["key"]
                                              for line in cells.read_text().splitlines()}
    assert len(cells.read_text().splitlines()) == case.cells
    assert canonical(path, case, timings=False) == json.dumps(
        _strip(json.loads(uninterrupted), TIMINGS if case.timed else set()), sort_keys=True)

    # an argument that changes the result is in the keys: the stored cells are not reused
    monkeypatch.undo()
    module, path, argv, cells = setup(case, monkeypatch, tmp_path)
    patch_cells(monkeypatch, module, case, refuse)
    for changed in case.changed:
        with pytest.raises(Recomputed):
            module.main([*argv, *changed])
    capsys.readouterr()


def test_a_torn_last_line_is_the_one_cell_run_again(tmp_path, monkeypatch):
    """A kill while a cell was being appended leaves half a line: that cell runs again, the rest
    are reused, and the file stays readable for later runs."""
    case = CASES["iov_slicers"]
    module, path, argv, cells = setup(case, monkeypatch, tmp_path)
    module.main(argv)
    uninterrupted = canonical(path, case)
    text = cells.read_bytes()
    last = text.rstrip(b"\n").rfind(b"\n") + 1
    cells.write_bytes(text[:last + (len(text) - last) // 2])  # the last line cut in half
    calls = patch_cells(monkeypatch, module, case, run_through)
    module.main(argv)
    assert len(calls) == 1 and canonical(path, case) == uninterrupted
    calls.clear()
    module.main(argv)  # the sealed torn line does not hide the cell appended after it
    assert calls == [] and canonical(path, case) == uninterrupted


def test_an_interrupted_run_resumes_to_the_uninterrupted_result_and_restart_recomputes(
        tmp_path, monkeypatch):
    case = CASES["kelly_table1"]
    module, path, argv, cells = setup(case, monkeypatch, tmp_path / "whole")
    module.main(argv)
    uninterrupted = canonical(path, case)

    module, path, argv, cells = setup(case, monkeypatch, tmp_path / "killed")

    def interrupt_at_the_fourth(original, args, kwargs):
        if len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl-C / kill during the fourth cell
        return original(*args, **kwargs)

    calls = patch_cells(monkeypatch, module, case, interrupt_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        module.main(argv)
    assert len(cells.read_text().splitlines()) == 3
    monkeypatch.undo()
    module, path, argv, cells = setup(case, monkeypatch, tmp_path / "killed")
    calls = patch_cells(monkeypatch, module, case, run_through)
    module.main(argv)
    assert len(calls) == case.cells - 3  # the three finished cells were not run again
    assert canonical(path, case) == uninterrupted
    calls.clear()
    module.main([*argv, "--restart"])
    assert len(calls) == case.cells and canonical(path, case) == uninterrupted


def test_a_soak_subprocess_killed_by_a_signal_is_not_stored(tmp_path, monkeypatch):
    """Only a finished soak is a cell: a child killed by a signal (Ctrl-C, kill -9) stops the run
    and leaves nothing in the cells file, so the rerun soaks that id again."""
    import subprocess

    from benchmarks import soak

    def killed(command, **kwargs):
        return subprocess.CompletedProcess(command, -9, stdout="", stderr="")

    monkeypatch.setattr(soak.subprocess, "run", killed)
    path = tmp_path / "soak.json"
    with pytest.raises(ChildProcessError, match="KellyGame-v0 was killed by signal 9"):
        soak.main(["--steps", "5", "--ids", KELLY, "--json", str(path), "--no-progress"])
    cells = Path(f"{path}.cells.jsonl")
    assert not cells.exists() or cells.read_text() == ""
