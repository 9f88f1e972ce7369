"""benchmarks.dvcg_scaling: critic sizes against their closed forms, the warm-up, the verdicts
(able to fail) and a tiny run that stores and resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

import auction_envs
from benchmarks import dvcg_scaling, reproduce_dvcg


@pytest.mark.parametrize("n", [3, 10])
def test_critic_input_sizes_match_their_closed_forms(n):
    env = auction_envs.make(reproduce_dvcg.ENV_ID, n_vsps=n, instance_seed=0, max_cycles=5)
    obs = int(np.prod(env.observation_space("slicer_0").shape))
    state = int(np.prod(env.unwrapped.state_space.shape))
    sizes = {}
    for method in dvcg_scaling.METHODS:
        learner, _ = reproduce_dvcg._learner(method, env, n, 0, "welfare")
        sizes[method] = dvcg_scaling.critic_input_size(learner)
        if method == "DVCG-MFMARL":
            mean_field = learner.mf_size
    assert sizes["DVCG-MARL"] == obs  # independent learners: the observation alone
    assert sizes["DVCG-MFMARL"] == obs + mean_field > obs
    # MADDPG's shared critic: the market state, every slicer's 3 actions, a one-hot agent id
    assert sizes["DVCG-MADDPG"] == state + 3 * n + n


def test_warmup_passes_every_learning_start():
    env = auction_envs.make(reproduce_dvcg.ENV_ID, n_vsps=10, instance_seed=0, max_cycles=30)
    learners = {m: reproduce_dvcg._learner(m, env, 10, 0, "welfare")[0]
                for m in dvcg_scaling.METHODS}
    # MADDPG: one row per round, 256 rows -> 9 episodes of 30; mean field: 10 rows per round
    assert dvcg_scaling.warmup_episodes(learners, 10, 30) == 9
    assert dvcg_scaling.warmup_episodes({"DVCG-MFMARL": learners["DVCG-MFMARL"]}, 10, 30) == 1


def test_paired_faster_holds_only_when_every_seed_says_so_clearly():
    clear = dvcg_scaling.paired_faster([0.3, 0.31, 0.29], [1.4, 1.5, 1.45])
    assert clear["holds"] and clear["seeds_faster"] == 3
    assert clear["difference"][0] == pytest.approx(np.mean([1.1, 1.19, 1.16]))
    assert not dvcg_scaling.paired_faster([1.4, 1.5, 1.45], [0.3, 0.31, 0.29])["holds"]  # reversed
    noisy = dvcg_scaling.paired_faster([1.0, 1.0, 1.0], [1.5, 0.7, 1.2])  # mean > 0, CI spans 0
    assert noisy["difference"][0] > 0 and not noisy["holds"]
    assert not dvcg_scaling.paired_faster([0.3], [1.4])["holds"]  # one seed: no interval


def test_growing_ratio_detects_a_rise_and_rejects_flat_or_falling():
    ns = [10, 20, 30]
    assert dvcg_scaling.growing_ratio(ns, [[2, 4, 6], [2.1, 4.2, 5.9]])["holds"]
    assert dvcg_scaling.growing_ratio(ns, [[2, 4, 6], [2.1, 4.2, 5.9]])["slope_per_vsp"][0] \
        == pytest.approx(np.mean([0.2, 0.19]))
    assert not dvcg_scaling.growing_ratio(ns, [[5, 5, 5], [5, 5.1, 4.9]])["holds"]
    assert not dvcg_scaling.growing_ratio(ns, [[6, 4, 2], [6, 4, 2.2]])["holds"]


@pytest.mark.slow
def test_tiny_run_times_every_learner_and_resumes(tmp_path, capsys):
    path = tmp_path / "scaling.json"
    argv = ["--n", "2", "3", "--seeds", "2", "--episodes", "1", "--episode-rounds", "30",
            "--json", str(path), "--no-progress", "--png", str(tmp_path / "scaling.png")]
    first = dvcg_scaling.main(argv)
    out = capsys.readouterr().out
    assert "NOT time to converge" in out and "N=2" in out and "N=3" in out
    stored = json.loads(path.read_text())
    assert len(stored["cells"]) == 4
    for cell in stored["cells"]:
        assert cell["result"]["warmup"] == 9
        for method in dvcg_scaling.METHODS:
            timing = cell["result"][method]
            assert len(timing["cpu_s"]) == len(timing["wall_s"]) == 1
            assert timing["wall_s"][0] > 0 and timing["cpu_s"][0] > 0
    rows = stored["summary"]["table"]
    assert [row["n"] for row in rows] == [2, 3]
    assert rows[1]["DVCG-MADDPG critic input"] > rows[0]["DVCG-MADDPG critic input"]
    assert (tmp_path / "scaling.png").stat().st_size > 0
    second = dvcg_scaling.main(argv)  # every cell from the store: the same numbers
    assert json.loads(json.dumps(second["summary"])) == json.loads(json.dumps(first["summary"]))


def test_a_cell_of_another_setup_is_refused():
    with pytest.raises(ValueError, match="LEARNER_SETUP"):
        dvcg_scaling.scaling_cell(2, 0, ("DVCG-MARL",), 5, 1, reproduce_dvcg.LEARNER_SETUP + 1)
