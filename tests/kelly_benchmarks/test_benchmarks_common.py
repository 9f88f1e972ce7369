"""benchmarks.common: crash-safe incremental JSON, job runner, and every script's --help."""

from __future__ import annotations

import argparse
import importlib
import json
import math

import pytest

from benchmarks.common import IncrementalResults, add_output_arguments, benchmark_parser, run_jobs

SCRIPTS = ("kelly_table1", "kelly_heterogeneous", "v2x_capacity_sweep", "v2x_throughput",
           "iov_solver", "iov_information", "iov_incentives", "iov_slicers", "reproduce_exchange",
           "cloud_comparison")


def test_incremental_results_survive_a_crash_mid_run(tmp_path):
    path = tmp_path / "sub" / "results.json"
    results = IncrementalResults(path, {"setting": "x"})
    with pytest.raises(RuntimeError):
        for k in range(10):
            if k == 3:
                raise RuntimeError("simulated crash")
            results.add({"cell": k, "value": k / 3}, key="rows")
    on_disk = json.loads(path.read_text())  # valid JSON, rows before the crash all there
    assert on_disk == {"setting": "x", "rows": [{"cell": k, "value": k / 3} for k in range(3)]}
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left


def test_incremental_results_without_path_only_keep_the_payload(tmp_path):
    results = IncrementalResults(None, [])
    results.add(1)
    results.set([*results.payload, 2])
    assert results.payload == [1, 2]


@pytest.mark.parametrize("workers", [1, 2])
def test_run_jobs_records_as_they_finish_and_returns_in_job_order(tmp_path, workers):
    path = tmp_path / "runs.json"
    results = IncrementalResults(path, {})

    def save(index, value):
        results.update({str(index): value})

    jobs = [(x,) for x in (16.0, 9.0, 4.0, 1.0)]
    assert run_jobs(math.sqrt, jobs, workers, on_result=save, show_progress=False) == [4, 3, 2, 1]
    assert json.loads(path.read_text()) == {str(k): v for k, v in enumerate([4, 3, 2, 1])}
    crash = IncrementalResults(tmp_path / "crash.json", {})
    with pytest.raises(ValueError):
        run_jobs(math.sqrt, [(4.0,), (9.0,), (-1.0,), (16.0,)], 1, show_progress=False,
                 on_result=lambda index, value: crash.update({str(index): value}))
    assert json.loads((tmp_path / "crash.json").read_text()) == {"0": 2.0, "1": 3.0}


def test_output_arguments():
    parser = benchmark_parser("What is reproduced.", "prog")
    add_output_arguments(parser, png_default="a.png", png_aliases=("--plot",))
    args = parser.parse_args(["--json", "r.json", "--plot", "b.png", "--no-progress"])
    assert (args.json, args.png, args.no_progress) == ("r.json", "b.png", True)
    assert parser.parse_args([]).png == "a.png"


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_explains_itself(name, capsys, monkeypatch):
    parsers = []
    parse_args = argparse.ArgumentParser.parse_args

    def spy(self, *args, **kwargs):
        parsers.append(self)
        return parse_args(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", spy)
    module = importlib.import_module(f"benchmarks.{name}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert module.__doc__.splitlines()[0] in text and "claim" in text.lower()
    assert "--json PATH" in text and "--no-progress" in text
    assert all(action.help for action in parsers[0]._actions), "an argument without help"


def test_iov_information_writes_json_and_prints_the_table(tmp_path, capsys):
    from benchmarks import iov_information

    result = iov_information.main(["--json", str(tmp_path / "t2.json"), "--no-progress"])
    assert json.loads((tmp_path / "t2.json").read_text()) == result
    assert "reproduced" in capsys.readouterr().out


def test_a_script_crashing_mid_run_keeps_its_finished_cells(tmp_path, monkeypatch):
    from benchmarks import kelly_table1

    cell, calls = kelly_table1.cell, []

    def crashing_cell(*args, **kwargs):
        calls.append(args)
        if len(calls) == 4:
            raise KeyboardInterrupt  # e.g. Ctrl-C during the fourth cell
        return cell(*args, **kwargs)

    monkeypatch.setattr(kelly_table1, "cell", crashing_cell)
    path = tmp_path / "table1.json"
    with pytest.raises(KeyboardInterrupt):
        kelly_table1.main(["--runs", "2", "--json", str(path), "--no-progress"])
    rows = json.loads(path.read_text())
    assert [row["algorithm"] for row in rows] == ["BR", "OGD_V", "OGD_F"]
