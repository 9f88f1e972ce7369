"""Benchmarks resume (issue 19): finished cells are kept on disk, a rerun runs only the missing ones."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from benchmarks.common import CellStore, add_output_arguments, cell_store, run_jobs

CALLS: list[int] = []


def square(x: int) -> dict:
    CALLS.append(x)
    if x == FAIL_AT[0]:
        raise RuntimeError("crash mid-grid")
    return {"x": x, "square": np.int64(x * x), "values": np.arange(x, dtype=float)}


FAIL_AT = [-1]


def test_store_persists_and_skips_a_torn_line(tmp_path):
    path = tmp_path / "r.json.cells.jsonl"
    store = CellStore(path)
    store.put(("a", 1), {"v": 1.5})
    with path.open("ab") as handle:
        handle.write(b'{"key": "[\\"a\\", 2]", "res')
    again = CellStore(path)
    assert again.get(("a", 1)) == {"v": 1.5} and ("a", 2) not in again
    again.put(("a", 2), {"v": 2})
    assert CellStore(path).get(("a", 2)) == {"v": 2}
    assert len(CellStore(path, restart=True)) == 0


def test_run_jobs_resumes_after_a_crash(tmp_path):
    args = argparse.ArgumentParser()
    add_output_arguments(args)
    options = args.parse_args(["--json", str(tmp_path / "r.json")])
    jobs = [(x,) for x in range(6)]
    FAIL_AT[0] = 4
    CALLS.clear()
    with pytest.raises(RuntimeError):
        run_jobs(square, jobs, show_progress=False, store=cell_store(options))
    assert CALLS == [0, 1, 2, 3, 4]
    FAIL_AT[0] = -1
    CALLS.clear()
    seen = []
    results = run_jobs(square, jobs, show_progress=False, store=cell_store(options),
                       on_result=lambda i, r: seen.append(i))
    assert CALLS == [4, 5]  # only the missing cells ran
    assert sorted(seen) == list(range(6))
    fresh = run_jobs(square, jobs, show_progress=False, store=CellStore(None))
    assert results == fresh  # a resumed grid equals an uninterrupted one
    CALLS.clear()
    restarted = args.parse_args(["--json", str(tmp_path / "r.json"), "--restart"])
    run_jobs(square, jobs, show_progress=False, store=cell_store(restarted))
    assert CALLS == list(range(6))


def test_a_benchmark_rerun_with_the_same_json_reuses_its_cells(tmp_path, capsys):
    import json

    from benchmarks import v2x_capacity_sweep

    args = ["--capacities", "60", "--mp", "1", "--seeds", "1", "2", "--steps", "60", "--png", "",
            "--no-progress", "--json", str(tmp_path / "sweep.json")]
    v2x_capacity_sweep.main(args)
    first = json.loads((tmp_path / "sweep.json").read_text())
    v2x_capacity_sweep.main(args)
    again = json.loads((tmp_path / "sweep.json").read_text())
    assert len((tmp_path / "sweep.json.cells.jsonl").read_text().splitlines()) == 2
    assert again["rows"] == first["rows"]


def nothing(x: int) -> None:
    CALLS.append(x)


def test_a_cell_whose_result_is_none_is_finished_too(tmp_path):
    store_path = tmp_path / "r.json.cells.jsonl"
    CALLS.clear()
    assert run_jobs(nothing, [(1,), (2,)], show_progress=False,
                    store=CellStore(store_path)) == [None, None]
    assert run_jobs(nothing, [(1,), (2,)], show_progress=False,
                    store=CellStore(store_path)) == [None, None]
    assert CALLS == [1, 2]  # the rerun found both cells, although their results are None
