"""The leaderboard: crash-safe resumable grid, verdicts that can fail, exploitability at the
reference solutions, and the Ray backend agreeing with the local one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import auction_envs
from benchmarks import leaderboard

ROOT = Path(__file__).resolve().parents[2]


def _keys(path: Path) -> list[str]:
    keys = []
    for line in path.read_bytes().splitlines():
        try:
            keys.append(json.loads(line)["key"])
        except (ValueError, KeyError):
            continue
    return keys


def test_sigkill_mid_grid_then_rerun_loses_and_duplicates_nothing(tmp_path):
    # the no-regret learners only (PPO's training would triple the test's time, not its reach)
    args = [sys.executable, "-m", "benchmarks.leaderboard", "--quick", "--envs",
            "KellyGame,KellyGameHeterogeneous", "--learners", "BR,OGD_F,OGD_V,DAQ_F,RRM_V,Hedge,EXP3",
            "--seeds", "3", "--reps", "100", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.Popen([*args, "--out", str(tmp_path / "split")], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = tmp_path / "split" / "runs.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (store.exists() and len(_keys(store)) >= 4):
        time.sleep(0.02)
    assert killed.poll() is None, "the grid finished before it could be killed"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    finished = _keys(store)
    assert finished, "nothing was stored before the kill"
    subprocess.run([*args, "--out", str(tmp_path / "split")], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    subprocess.run([*args, "--out", str(tmp_path / "whole")], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    keys = _keys(store)
    assert len(keys) == len(set(keys)) == len(_keys(tmp_path / "whole" / "runs.jsonl"))
    assert keys[:len(finished)] == finished  # finished runs kept as they were, not redone
    split = json.loads((tmp_path / "split" / "leaderboard.json").read_text())
    whole = json.loads((tmp_path / "whole" / "leaderboard.json").read_text())
    assert split["rows"] == whole["rows"] and split["overall"] == whole["overall"]
    assert (tmp_path / "split" / "leaderboard.md").read_text().startswith("Leaderboard (quick")
    marl = json.loads((tmp_path / "split" / "results.json").read_text())
    assert set(marl["auction_envs"]) == {"KellyGame", "KellyGameHeterogeneous"}


def _run(market, learner, seed, value, ret=0.0):
    return {"market": market, "env_id": f"{market}-v0", "learner": learner, "seed": seed,
            "metric": "nash_conv", "value": value, "return": ret, "exploitability": value}


def test_verdicts_can_fail_and_scores_are_paired_with_random():
    market = "auction_envs/KellyGame"
    runs = ([_run(market, "Random", s, 100.0 + s) for s in range(5)]
            + [_run(market, "BR", s, 0.0) for s in range(5)]
            + [_run(market, "OGD_F", s, 0.5 * (100.0 + s)) for s in range(5)])
    rows = {row["learner"]: row for row in leaderboard.aggregate(runs, reps=200)["rows"]}
    assert rows["BR"]["met"] is True and rows["OGD_F"]["met"] is False
    assert rows["OGD_F"]["normalized_score"] == pytest.approx(0.5)
    assert rows["Random"]["normalized_score"] == pytest.approx(0.0)
    assert rows["OGD_F"]["poi_vs_reference"] == 0.0  # always worse than BR (lower is better)


def _kelly_at(bids):
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=4, max_cycles=2)
    env.reset(seed=0)
    env.step({agent: np.array([bid]) for agent, bid in zip(env.possible_agents, bids)})
    return env


def test_kelly_exploitability_zero_at_the_equilibrium_positive_when_perturbed():
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=4)
    equilibrium = env.unwrapped.equilibrium()
    board = leaderboard.board_of("auction_envs/KellyGame")
    assert board.exploitability(_kelly_at(equilibrium), None) == pytest.approx(0.0, abs=1e-9)
    assert board.exploitability(_kelly_at(equilibrium * 1.3), None) > 1e-2


def test_exchange_exploitability_zero_at_the_equilibrium_positive_when_perturbed():
    board = leaderboard.board_of("auction_envs/ExchangeEconomyMechanism")
    values = []
    for perturb in (0.0, 0.2):
        env = auction_envs.make("auction_envs/ExchangeEconomyMechanism-v0", max_cycles=2)
        env.reset(seed=0)
        allocation, prices = env.unwrapped.equilibrium()
        uniform = np.full_like(allocation, 1.0 / allocation.shape[0])
        allocation = (1 - perturb) * allocation + perturb * uniform
        agent = env.possible_agents[0]
        action = env.unwrapped.encode_action(allocation, prices) if hasattr(
            env.unwrapped, "encode_action") else np.concatenate([allocation.ravel(), prices])
        env.step({agent: np.clip(action, env.action_space(agent).low, env.action_space(agent).high)})
        values.append(board.exploitability(env, None))
    assert values[0] == pytest.approx(0.0, abs=1e-6) and values[1] > 1e-3


def test_iov_exploitability_small_at_truthful_bids_positive_when_one_overbids():
    # (a common shading c < 1 of every bid changes no profit: DSIC holds against truthful others)
    board = leaderboard.board_of("auction_envs/IoVSlicing")
    values = []
    for overbid in (1.0, 1.4):
        env = auction_envs.make(leaderboard.latest_id("auction_envs/IoVSlicing"), max_cycles=2)
        env.reset(seed=0)
        bids = np.array(env.unwrapped.equilibrium()["bids"], dtype=np.float64)
        bids[0] *= overbid
        bidders = [a for a in env.possible_agents if env.action_space(a).shape == (1,)]
        env.step({a: np.array([b]) for a, b in zip(bidders, bids)})
        values.append(board.exploitability(env, None))
    assert values[0] <= 1e-3 * max(1.0, values[1]) and values[1] > 1.0


def test_ray_backend_gives_the_local_numbers(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    common = ["--quick", "--envs", "KellyGame", "--learners", "BR,OGD_F", "--seeds", "2",
              "--reps", "100", "--no-progress"]
    assert leaderboard.main([*common, "--out", str(tmp_path / "local")]) == 0
    assert leaderboard.main([*common, "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0
    local = json.loads((tmp_path / "local" / "leaderboard.json").read_text())
    remote = json.loads((tmp_path / "ray" / "leaderboard.json").read_text())
    assert local["rows"] == remote["rows"]


def test_search_exploitability_of_v2x_and_cloud_runs_is_reported_with_its_budget():
    from auction_envs.oracles.best_response import BUDGETS

    cloud = leaderboard.run_one("auction_envs/CloudDoubleAuction", "FixedMarkup0.5", 1, "quick")
    detail = cloud["exploitability_detail"]
    assert cloud["exploitability"] == detail["nash_conv"]
    assert detail["budget"]["rounds"] == BUDGETS["cloud"]["quick"].rounds
    assert len(detail["deviations"]) == BUDGETS["cloud"]["quick"].agents
    again = leaderboard.run_one("auction_envs/CloudDoubleAuction", "FixedMarkup0.5", 1, "quick")
    assert again["exploitability_detail"] == detail  # seeded: the same search, the same numbers
    v2x = leaderboard.run_one("auction_envs/V2XOffloadingHighContention", "PassiveV2X", 0, "quick")
    assert v2x["exploitability_detail"]["budget"]["rounds"] == BUDGETS["v2x"]["quick"].rounds
    assert np.isfinite(v2x["exploitability"])


def test_rows_carry_the_exploitability_interval_and_method():
    market = "auction_envs/CloudDoubleAuction"
    runs = [{**_run(market, learner, s, 1e5 + s), "metric": "total_provider_utility",
             "exploitability": 100.0 * s} for learner in ("Random", "FixedMarkup1.2")
            for s in range(5)]
    board = leaderboard.aggregate(runs, reps=200)
    row = board["rows"][0]
    assert row["exploitability"] == pytest.approx(200.0)  # IQM of 0, 100, ..., 400
    assert row["exploitability_ci"][0] <= 200.0 <= row["exploitability_ci"][1]
    assert row["exploitability_method"] == leaderboard.SEARCH
    table = leaderboard.markdown(board, "quick", 5)
    assert "200 [" in table and "held-out deviation search" in table


def test_sb3_ppo_is_on_the_board_and_learns_in_the_quick_budget():
    pytest.importorskip("stable_baselines3", reason="the learners extra is not installed")
    from agents.registry import get_learner, learners_for

    assert "PPO" in [spec.name for spec in learners_for("auction_envs/KellyGame-v0")]
    assert get_learner("PPO").fits(leaderboard.latest_id("auction_envs/CloudDoubleAuction"))
    market = "auction_envs/KellyGame"
    ppo = leaderboard.run_one(market, "PPO", 3, "quick")
    random = leaderboard.run_one(market, "Random", 3, "quick")
    assert ppo["value"] < 0.5 * random["value"]  # NashConv: about 76 against 540
    assert leaderboard.run_one(market, "PPO", 3, "quick")["value"] == ppo["value"]
    from agents.sb3_ppo import SharedPPO

    with pytest.raises(ValueError, match="episodes must be an integer"):
        SharedPPO(auction_envs.make("auction_envs/KellyGame-v0"), episodes=0)
