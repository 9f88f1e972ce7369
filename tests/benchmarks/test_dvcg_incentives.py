"""benchmarks.dvcg_incentives: the frozen slicers' misreport gains (zero at the truthful scale,
the reproduction's training), and the significance verdict (able to fail)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from benchmarks import dvcg_incentives, reproduce_dvcg
from benchmarks.iov_incentives import COLLUSION_GRID, FACTORS

TINY = {"episodes": 2, "episode_rounds": 6, "eval_every": 1, "tail": 3,
        "setup": reproduce_dvcg.LEARNER_SETUP}


def test_scaled_bids_scales_only_the_named_vsps():
    truthful = np.array([10.0, 20.0, 30.0])
    bids = dvcg_incentives.scaled_bids({0: 0.5, 2: 1.5})(0, truthful)
    np.testing.assert_allclose(bids, [5.0, 20.0, 45.0])
    np.testing.assert_allclose(truthful, [10.0, 20.0, 30.0])  # the truthful bids untouched


def test_cell_trains_as_the_reproduction_and_truthful_scale_gains_nothing():
    cell = dvcg_incentives.incentives_cell(3, 1, TINY, FACTORS, COLLUSION_GRID)
    assert cell["efficiency"] == reproduce_dvcg.train_slicers("DVCG-MADDPG", 3, 1, "welfare",
                                                              TINY)["efficiency"]
    unilateral = np.array(cell["unilateral"])
    assert unilateral.shape == (3, len(FACTORS))
    truthful = FACTORS.index(1.0)
    np.testing.assert_array_equal(unilateral[:, truthful], 0.0)  # same episode, same bids
    collusion = np.array(cell["collusion"])
    assert collusion.shape == (len(COLLUSION_GRID),) * 2
    one = COLLUSION_GRID.index(1.0)
    assert collusion[one, one] == 0.0
    assert np.isfinite(collusion).all() and np.isfinite(unilateral).all()
    assert len(cell["truthful_profit"]) == 3


def test_significant_gain_needs_an_interval_above_zero():
    assert dvcg_incentives.significant_gain([1.0, 1.2, 0.9, 1.1, 1.0])["significant"]
    assert not dvcg_incentives.significant_gain([1.0, -1.2, 0.9, -1.1, 0.5])["significant"]
    assert not dvcg_incentives.significant_gain([-1.0, -1.2, -0.9])["significant"]
    assert not dvcg_incentives.significant_gain([0.0, 0.0, 0.0])["significant"]
    assert not dvcg_incentives.significant_gain([5.0])["significant"]  # one seed: no interval
    assert dvcg_incentives.significant_gain([1.0, -1.2, 0.9])["max_seed"] == 1.0


def test_summary_flags_a_planted_violation_and_only_it():
    rng = np.random.default_rng(0)
    cells = []
    for _ in range(5):
        unilateral = rng.normal(0.0, 1.0, (3, len(FACTORS))) - 5.0  # every misreport loses
        unilateral[:, FACTORS.index(1.0)] = 0.0
        unilateral[2, FACTORS.index(1.5)] = 3.0 + rng.normal(0, 0.1)  # VSP 2 gains at 1.5
        collusion = rng.normal(0.0, 1.0, (len(COLLUSION_GRID),) * 2) - 5.0
        cells.append({"unilateral": unilateral.tolist(), "collusion": collusion.tolist(),
                      "efficiency": 0.9})
    summary = dvcg_incentives.summarize(cells, FACTORS, COLLUSION_GRID)
    assert summary["dsic_violations"] == [(2, 1.5)]
    assert not summary["collusion_best"]["significant"]
    json.dumps(summary)  # storable


@pytest.mark.slow
def test_two_runs_on_their_seeds_share_one_store(tmp_path, capsys):
    path = tmp_path / "incentives.json"
    common = ["--n", "2", "--seeds", "2", "--episodes", "1", "--json", str(path), "--no-progress"]
    one = dvcg_incentives.main([*common, "--only-seeds", "1"])
    assert [cell["seed"] for cell in one["cells"]] == [1] and one["summary"]["seeds"] == 1
    both = dvcg_incentives.main(common)  # seed 1 from the store, seed 0 run
    assert sorted(cell["seed"] for cell in both["cells"]) == [0, 1]
    assert both["summary"]["seeds"] == 2
    stored = [json.loads(line) for line in (tmp_path / "incentives.json.cells.jsonl").open()]
    assert len(stored) == 2  # seed 1 was not run twice
    assert "Paper 002's claims" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        dvcg_incentives.main([*common, "--only-seeds", "2"])
