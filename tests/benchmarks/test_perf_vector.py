"""benchmarks.perf_vector: a tiny run's JSON, ratios from the same run, a fair bare kernel, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

import auction_envs
from benchmarks import perf_vector

TINY = ["--sections", "throughput", "oracles", "memory", "--num-envs", "1", "7",
        "--steps", "3", "--repeats", "1", "--instances", "2", "--oracle-calls", "2",
        "--memory-envs", "5",
        "--no-progress", "--no-profile"]


@pytest.mark.parametrize("num_envs", [1, 5, 64])
def test_bare_kernel_computes_the_vector_envs_rewards_and_observations(num_envs):
    venv = auction_envs.make_vec(perf_vector.KELLY_ID, num_envs=num_envs)
    venv.reset(seed=3)
    bare = perf_vector.BareKellyKernel(venv)
    rng = np.random.default_rng(1)
    for _ in range(3):  # changing bids, so a stale buffer would show
        actions = perf_vector.fixed_kelly_bids(venv, int(rng.integers(100)))
        observations, rewards, *_ = venv.step(actions)
        payoff = bare.step(actions[..., 0].astype(np.float64))
        np.testing.assert_array_equal(payoff, rewards)  # bit for bit: the same arithmetic
        np.testing.assert_array_equal(bare.observation, observations)


def test_bare_kernel_rejects_a_game_it_does_not_play():
    venv = auction_envs.make_vec("auction_envs/KellyGameAlphaFair-v0", num_envs=2)
    with pytest.raises(ValueError, match="alpha"):
        perf_vector.BareKellyKernel(venv)


def test_tiny_run_fields_ratios_and_resume(tmp_path, monkeypatch, capsys):
    path = tmp_path / "perf.json"
    payload = perf_vector.main([*TINY, "--json", str(path), "--png", str(tmp_path / "p.png")])
    stored = json.loads(path.read_text())
    assert stored["machine"]["cpu"] and stored["machine"]["numpy"] == np.__version__
    assert stored["load_before"] and stored["load_after"]
    assert [r["num_envs"] for r in stored["throughput"]] == [1, 7]
    for row in stored["throughput"]:  # the ratio is the quotient of the two measured sides
        assert row["vector_over_bare"] == pytest.approx(
            row["vector_agent_steps_per_s"] / row["bare_agent_steps_per_s"], rel=1e-12)
        assert row["vector_agent_steps_per_s"] > 0 and row["bare_agent_steps_per_s"] > 0
    oracles = {r["oracle"]: r for r in stored["oracles"]}
    assert set(oracles) == {"kelly_nash", "slicing_optimum", "competitive_equilibrium"}
    for row in oracles.values():  # equal accuracy: both sides solved the instances
        assert row["ours_max_error"] < 1e-6 and row["generic_max_error"] < 1e-6
        assert row["max_difference"] < 1e-6
        assert row["speedup_median"] > 0
        assert row["repeated_calls"] == 2 and row["speedup_median_repeated"] > 0
    assert stored["memory"][0]["num_envs"] == 5 and stored["memory"][0]["peak_traced_mb"] > 0
    assert stored["verdicts"]["best_vector_agent_steps_per_s"] == max(
        r["vector_agent_steps_per_s"] for r in stored["throughput"])
    assert (tmp_path / "p.png").stat().st_size > 0
    assert payload["throughput"] == stored["throughput"]
    assert "vector/bare" in capsys.readouterr().out

    # resume: a rerun with the same --json runs no cell again and reports the stored figures
    def refusing(name):
        def no_new_cells(*args, **kwargs):
            raise AssertionError("a finished cell was run again")

        no_new_cells.__name__ = name  # the store keys cells by the function's name
        return no_new_cells

    for name in ("throughput_cell", "oracle_cell", "memory_cell"):
        monkeypatch.setattr(perf_vector, name, refusing(name))
    with pytest.raises(AssertionError, match="run again"):  # the guard itself bites
        perf_vector.throughput_cell(1, 1, 1, 0)
    again = perf_vector.main([*TINY, "--json", str(path)])
    assert again["throughput"] == stored["throughput"]
    assert again["oracles"] == stored["oracles"]


def test_help_shows_the_docstring(capsys):
    with pytest.raises(SystemExit):
        perf_vector.main(["--help"])
    assert "bare numpy kernel" in capsys.readouterr().out


def test_allocator_cell_measures_both_sides_in_a_fresh_process():
    row = perf_vector.allocator_cell("mmap_threshold_64MiB", 7, 2, 1, 0)
    assert row["environment"]["MALLOC_MMAP_THRESHOLD_"] == str(64 * 2**20)
    assert row["num_envs"] == 7 and row["vector_agent_steps_per_s"] > 0
    assert row["vector_over_bare"] == pytest.approx(
        row["vector_agent_steps_per_s"] / row["bare_agent_steps_per_s"], rel=1e-12)


def test_perf_runs_the_vector_section_into_its_json_and_resumes_it(tmp_path):
    from benchmarks import perf

    path = tmp_path / "perf.json"
    argv = ["--vector-only", "--no-progress", "--json", str(path), "--vector-args",
            "--sections memory --memory-envs 5 --steps 2"]
    assert perf.main(argv) == 0
    first = json.loads(path.read_text())["vector"]["memory"]
    assert first[0]["num_envs"] == 5 and first[0]["peak_traced_mb"] > 0
    assert (tmp_path / "perf.vector.json.cells.jsonl").exists()
    assert perf.main(argv) == 0  # resumed: the stored cell comes back unchanged
    assert json.loads(path.read_text())["vector"]["memory"] == first
