"""benchmarks.reproduce_dvcg: the pieces with known answers, and a tiny run that resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")

from benchmarks import reproduce_dvcg


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(1, 100), st.integers(0, 2**31 - 1))
def test_grid_rounding_is_feasible_on_the_grid_and_close(n, m, seed):
    allocation = np.random.default_rng(seed).dirichlet(np.ones(n), size=3).T  # columns sum to 1
    rounded = reproduce_dvcg.grid_rounding(allocation, m)
    units = rounded * m
    np.testing.assert_allclose(units, np.round(units), atol=1e-9)  # on the 1/m grid
    np.testing.assert_allclose(rounded.sum(axis=0), 1.0, atol=1e-9)  # every unit handed out
    assert np.all(np.abs(rounded - allocation) < 1.0 / m + 1e-9)
    assert np.all(rounded >= 0)


def test_grid_rounding_known_case():
    allocation = np.array([[0.46, 0.5, 1.0], [0.34, 0.5, 0.0], [0.2, 0.0, 0.0]])
    np.testing.assert_allclose(reproduce_dvcg.grid_rounding(allocation, 5),
                               [[0.4, 0.6, 1.0], [0.4, 0.4, 0.0], [0.2, 0.0, 0.0]])


def test_box_adapter_maps_to_the_nearest_level():
    import auction_envs

    env = auction_envs.make(reproduce_dvcg.ENV_ID, n_vsps=2, max_cycles=2)
    adapter = reproduce_dvcg.BoxSlicers(env)
    assert adapter.possible_agents == ["slicer_0", "slicer_1"]
    np.testing.assert_array_equal(adapter.to_levels(np.array([-1.0, 0.0, 1.0])), [0, 3, 6])
    np.testing.assert_array_equal(adapter.to_levels(np.array([-0.4, 0.4, 5.0])), [2, 4, 6])


def test_mfddpg_slicers_learn_round_differences_with_an_agent_id():
    import auction_envs
    from agents.mean_field import MFDDPG

    env = auction_envs.make(reproduce_dvcg.ENV_ID, n_vsps=3, instance_seed=0, max_cycles=4)
    learner, adapter = reproduce_dvcg._learner("DVCG-MFDDPG", env, 3, 0, "welfare")
    assert isinstance(learner, MFDDPG) and isinstance(adapter, reproduce_dvcg.BoxSlicers)
    assert learner.config.agent_id and learner.config.gamma == 0.0
    assert learner.config.reward_baseline == "previous"
    slicer_obs = env.observation_space("slicer_0").shape[0]
    assert learner.obs_size == slicer_obs + 3  # the one-hot id tells identical round-1 rows apart
    reproduce_dvcg._episode(env, learner, adapter, "welfare", 1, explore=True, learn=True, tail=2)
    # 4 rounds, the first has no previous reward: 3 rounds x 3 slicers stored
    assert learner.buffer.size == 9
    rewards = learner.buffer.data["reward"][:9, 0].reshape(3, 3)
    np.testing.assert_allclose(rewards, rewards[:, :1].repeat(3, axis=1))  # one shared welfare
    assert np.any(rewards != 0.0)


def test_myopic_oracle_improves_on_the_uniform_split():
    import auction_envs
    from auction_envs.oracles.slicing import slicing_utility

    env = auction_envs.make(reproduce_dvcg.ENV_ID, n_vsps=4, instance_seed=1, max_cycles=1)
    env.reset(seed=1)
    base = env.unwrapped
    uniform = slicing_utility(np.full((4, 3), 0.25), base.beta, base.xi).sum()
    efficiency = reproduce_dvcg.myopic_oracle(4, 1, rounds=20, tail=5)["myopic oracle"]
    assert uniform / base.metrics()["optimal_welfare"] < efficiency <= 1.0


def test_mean_ci_matches_the_t_interval():
    mean, half = reproduce_dvcg.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302652729911275 * 1.0 / np.sqrt(3))
    assert np.isnan(reproduce_dvcg.mean_ci([1.0])[1])


def test_help_shows_the_docstring(capsys):
    with pytest.raises(SystemExit):
        reproduce_dvcg.main(["--help"])
    assert "Paper 002 (DVCG) reproduction" in capsys.readouterr().out


@pytest.mark.slow
def test_tiny_run_reports_and_resumes(tmp_path, capsys):
    path = tmp_path / "dvcg.json"
    argv = ["--quick", "--n", "2", "--seeds", "2", "--episodes", "1", "--ppo-steps", "40",
            "--methods", *reproduce_dvcg.LEARNED, "--rewards", "welfare", "bids",
            "--json", str(path), "--no-progress"]
    first = reproduce_dvcg.main(argv)
    out = capsys.readouterr().out
    assert "Claims (paper 002 / issue 15)" in out and "QVCG-0.05" in out
    stored = json.loads(path.read_text())
    cells = 2 + 2 + 2 * len(reproduce_dvcg.LEARNED) * 2
    assert len(stored["cells"]) == len(first["cells"]) == cells
    table = stored["summary"]["table"]
    assert {row["reward"] for row in table} == {"welfare", "bids"}
    for row in table:
        for name in ("uniform", "QVCG-0.05", "hill-climb", "myopic oracle",
                     *reproduce_dvcg.LEARNED):
            assert 0.0 < row[name][0] <= 1.0 + 1e-9
    # a rerun takes every cell from PATH.cells.jsonl and reproduces the numbers
    as_json = lambda payload: json.loads(json.dumps(payload["summary"]))  # noqa: E731
    second = reproduce_dvcg.main(argv)
    assert as_json(second) == as_json(first)
    capsys.readouterr()
    reported = reproduce_dvcg.main([*argv, "--report"])
    assert as_json(reported) == as_json(first)
    assert f"report of {cells} of {cells} cells" in capsys.readouterr().out
    # every cell carries its own cost, and the sums add up
    costs = stored["cell_costs"]
    assert costs["without_cost"] == 0
    assert sum(k["cells"] for k in costs["by_kind"].values()) == cells
    assert costs["cpu_s"] == pytest.approx(sum(c["result"]["cost"]["cpu_s"]
                                               for c in stored["cells"]))


def test_quick_defaults_and_costliest_cells_first():
    budget = reproduce_dvcg.QUICK
    jobs = reproduce_dvcg.jobs_for(budget, seeds=5)
    kinds = [job[0] for job in jobs]
    assert set(kinds) == {"DVCG-MADDPG", "DVCG-MFMARL", "DVCG-MFDDPG", "SB3-PPO", "references",
                          "myopic"}
    assert kinds[:5] == ["DVCG-MADDPG"] * 5  # the long cells start first
    assert all(job[3] == "welfare" for job in jobs if job[0].startswith(("DVCG", "SB3")))
    assert len(jobs) == 6 * 5
    # PPO gets the learners' samples: episodes x rounds x N slicer-steps
    assert budget.ppo_steps == budget.episodes * budget.episode_rounds * 10
    # the training cells' keys carry the learner set-up, so no older set-up's cell is resumed
    assert all(job[4]["setup"] == reproduce_dvcg.LEARNER_SETUP
               for job in jobs if job[0].startswith("DVCG"))
    full = reproduce_dvcg.jobs_for(reproduce_dvcg.FULL, seeds=1)
    assert sum(job[0] == "SB3-PPO" for job in full) == 10  # 5 N x 2 rewards
    ns = [job[1] for job in full if job[0] == "DVCG-MADDPG"]
    assert ns == sorted(ns, reverse=True)


def test_cell_costs_sums_per_kind_and_counts_cells_without_cost():
    cells = {("references", 10, 0): {"uniform": 0.9, "cost": {"cpu_s": 1.0, "wall_s": 2.0}},
             ("DVCG-MFMARL", 10, 0, "welfare"): {"efficiency": 0.9,
                                                  "cost": {"cpu_s": 3.0, "wall_s": 5.0}},
             ("DVCG-MFMARL", 10, 1, "welfare"): {"efficiency": 0.9,
                                                  "cost": {"cpu_s": 4.0, "wall_s": 4.5}},
             ("myopic", 10, 0): {"myopic oracle": 0.98}}
    costs = reproduce_dvcg.cell_costs(cells)
    assert costs["cpu_s"] == 8.0 and costs["wall_s"] == 11.5 and costs["without_cost"] == 1
    assert costs["by_kind"]["DVCG-MFMARL"] == {"cpu_s": 7.0, "wall_s": 9.5, "cells": 2}


def test_mfddpg_lr_enters_the_cell_key_unless_it_is_the_keyless_legacy_rate():
    from dataclasses import replace

    budget = replace(reproduce_dvcg.QUICK, methods=("DVCG-MFDDPG",))
    default = reproduce_dvcg.jobs_for(budget, seeds=1)[0]
    assert default[0] == "DVCG-MFDDPG" and default[4]["mfddpg_lr"] == reproduce_dvcg.MFDDPG_LR
    # cells stored when 1e-3 was the default carry no rate: they keep matching a 1e-3 run
    legacy = reproduce_dvcg.jobs_for(replace(budget, mfddpg_lr=1e-3), seeds=1)[0]
    assert "mfddpg_lr" not in legacy[4]
    slower = reproduce_dvcg.jobs_for(replace(budget, mfddpg_lr=3e-4), seeds=1)[0]
    assert slower[4]["mfddpg_lr"] == 3e-4
    # the other learners' cells never carry it: their stored cells match whatever the rate
    others = reproduce_dvcg.jobs_for(replace(reproduce_dvcg.QUICK, mfddpg_lr=3e-4), seeds=1)
    assert all("mfddpg_lr" not in job[4] for job in others
               if job[0] in ("DVCG-MADDPG", "DVCG-MFMARL"))
    import auction_envs

    env = auction_envs.make(reproduce_dvcg.ENV_ID, n_vsps=2, max_cycles=2)
    learner, _ = reproduce_dvcg._learner("DVCG-MFDDPG", env, 2, 0, "welfare", mfddpg_lr=3e-4)
    assert learner.config.lr == learner.config.actor_lr == 3e-4
    assert learner.actor_optimizer.param_groups[0]["lr"] == 3e-4


def test_the_95_percent_claim_is_read_from_the_mean_interval_and_can_fail():
    """Holds when the interval's lower end clears 0.95: not on a mean above 0.95 alone, never on one
    seed; the stored 5-seed bids run (0.9673 ± 0.0217) fails, the 10-seed one (0.9713 ± 0.0095)
    holds."""
    assert reproduce_dvcg.reaches_target((0.9713, 0.0095))
    assert not reproduce_dvcg.reaches_target((0.9673, 0.0217))
    assert not reproduce_dvcg.reaches_target((0.99, float("nan")))  # one seed: no interval
    assert not reproduce_dvcg.reaches_target((0.94, 0.001))
    assert reproduce_dvcg.reaches_target(reproduce_dvcg.mean_ci([0.96, 0.97, 0.98, 0.97, 0.96]))
    assert not reproduce_dvcg.reaches_target(reproduce_dvcg.mean_ci([0.99, 0.99, 0.99, 0.99, 0.90]))


def test_every_n_given_is_trained_under_every_reward_asked_for(tmp_path, capsys):
    """``--n 2 3 --rewards bids``: the bids reward at both N (it once trained only the first)."""
    summary = reproduce_dvcg.main(["--n", "2", "3", "--seeds", "2", "--episodes", "1",
                                   "--methods", "DVCG-MFDDPG", "--rewards", "bids",
                                   "--json", str(tmp_path / "d.json"), "--no-progress"])
    capsys.readouterr()
    rows = [row for row in summary["summary"]["table"] if row["reward"] == "bids"]
    assert [row["n"] for row in rows] == [2, 3]
    assert all(0.0 < row["DVCG-MFDDPG"][0] <= 1.0 + 1e-9 for row in rows)
