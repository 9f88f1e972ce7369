"""The fast path of the paper-003 reproduction gives the same numbers as the plain one, and a
``--json`` run resumes from its finished cells."""

from __future__ import annotations

import json

import numpy as np
import pytest

import agents.exchange.bandit_ce as bandit_ce
from agents.exchange.glm import project_box, project_box_rows
from benchmarks import reproduce_exchange
from benchmarks.reproduce_exchange import SETTINGS, run_one


def _per_row(theta, gram, low, high):
    """The unbatched path: one :func:`project_box` call per agent, inside the box or not."""
    return np.array([project_box(theta[i], gram[i], low, high) for i in range(len(theta))])


def test_project_box_rows_equals_one_call_per_row():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, m = rng.integers(1, 7), rng.integers(1, 4)
        theta = rng.uniform(-0.5, 1.6, (n, m))
        theta[rng.random(n) < 0.4] = rng.uniform(0.1, 1.0, m)  # some rows inside the box
        factors = rng.normal(size=(n, m, m))
        gram = factors @ np.swapaxes(factors, -1, -2) + 1e-3 * np.eye(m)
        assert np.array_equal(project_box_rows(theta, gram, 0.1, 1.0),
                              _per_row(theta, gram, 0.1, 1.0))


@pytest.mark.parametrize("setting", [0, 4])  # CES rho = 0.25 (GLM estimate), Amdahl F = 0.8
@pytest.mark.parametrize("learner", ["Algorithm 1", "greedy"])
def test_run_is_bit_identical_to_the_unbatched_projection(monkeypatch, setting, learner):
    """A whole run (estimate, sampling, CE, loss) with the batched projection equals, bit for
    bit, the run that projects every agent by her own call (the CES learner's trajectory
    amplifies any last-bit difference, so equality here is the meaningful check)."""
    name, env_id, kwargs = SETTINGS[setting]
    fast = run_one(name, env_id, kwargs, learner, 1, 60, 0.3, 1)
    monkeypatch.setattr(bandit_ce, "project_box_rows", _per_row)
    plain = run_one(name, env_id, kwargs, learner, 1, 60, 0.3, 1)
    assert np.array_equal(fast["losses"], plain["losses"])
    assert fast["diagnostics"] == plain["diagnostics"]


def _main(tmp_path, seeds):
    path = tmp_path / "run.json"
    result = reproduce_exchange.main(["--T", "30", "--seeds", str(seeds), "--settings", "4",
                                      "--prd-instances", "0", "--no-progress", "--png", "",
                                      "--json", str(path)])
    lines = (tmp_path / "run.json.cells.jsonl").read_text().splitlines()
    return result, lines


def test_json_run_resumes_from_its_finished_cells(tmp_path, monkeypatch, capsys):
    """A first run with one seed stands for a killed run; the rerun with two seeds computes only
    the two missing cells, keeps the finished ones, and a third rerun computes nothing."""
    first, lines = _main(tmp_path, 1)
    assert len(lines) == 2  # one cell = setting x learner x seed
    calls = []
    original = reproduce_exchange.run_one

    def counted(*job):
        calls.append(job)
        return original(*job)

    counted.__name__ = "run_one"  # the cell key names the function
    monkeypatch.setattr(reproduce_exchange, "run_one", counted)
    second, lines = _main(tmp_path, 2)
    assert len(lines) == 4 and [job[4] for job in calls] == [1, 1]
    for old in first["runs"]:
        new = next(r for r in second["runs"]
                   if (r["learner"], r["seed"]) == (old["learner"], old["seed"]))
        assert new["losses"] == old["losses"]
    calls.clear()
    third, lines = _main(tmp_path, 2)
    assert calls == [] and len(lines) == 4
    assert third["rows"] == second["rows"]
    stored = json.loads((tmp_path / "run.json").read_text())
    assert len(stored["runs"]) == 4 and "verdicts" in stored


def test_settings_argument_is_checked():
    for bad in ("9", "1,1", "x"):
        with pytest.raises(SystemExit):
            reproduce_exchange.main(["--settings", bad, "--T", "10"])


def test_corner_diagnostics_agree_with_the_run_and_the_true_ce():
    """The per-agent late losses sum to the run's CE losses over the last T/10 rounds (the same
    rounds, the same economy); corners are read off the env's verified CE; the loss shares of
    corner and interior agents add up to 1."""
    import auction_envs
    from benchmarks.reproduce_exchange import corner_diagnostics, corner_summary

    name, env_id, kwargs = SETTINGS[5]  # Amdahl F = 0.95: most agents at a corner of the CE
    T = 80
    cell = corner_diagnostics(name, env_id, kwargs, "Algorithm 1", 2, T, 0.3, 1)
    run = run_one(name, env_id, kwargs, "Algorithm 1", 2, T, 0.3, 1)
    assert np.isclose(sum(cell["late_loss"]), run["losses"][-(T // 10):].sum(), rtol=1e-12,
                      atol=1e-15)
    env = auction_envs.make(env_id, max_cycles=T, **kwargs)
    env.reset(seed=2)
    allocation, _ = env.unwrapped.equilibrium()
    assert cell["ce_corner"] == (allocation.min(axis=1) < 1e-9).tolist()
    assert all(0.0 <= s <= 1.0 for s in cell["played_corner_share"])
    assert all(w <= s for w, s in zip(cell["weak_eigenvalue"], cell["strong_eigenvalue"]))
    (row,) = corner_summary([cell])
    shares = [row[k]["late_loss_share"] for k in ("corner", "interior")]
    assert row["corner"]["agents"] + row["interior"]["agents"] == 8
    assert np.isclose(sum(shares), 1.0) or sum(cell["late_loss"]) == 0.0
