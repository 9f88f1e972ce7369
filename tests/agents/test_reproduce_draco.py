"""benchmarks.reproduce_draco: the statistics by hand, metric names in sync with the env, the env id
resolution, the scripted policy, and one tiny end-to-end run (JSON, tables, figures, resume)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import auction_envs
from benchmarks import reproduce_draco as rd

torch.set_num_threads(1)


def test_t_interval_by_hand():
    mean, low, high = rd.t_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) x sd / sqrt(n)
    assert mean == 2.0
    assert low == pytest.approx(2.0 - half) and high == pytest.approx(2.0 + half)
    assert math.isnan(rd.t_interval([1.0])[1])


def _rows(passive, draco, capacity=60, mp=1):
    rows = []
    for seed, (p, d) in enumerate(zip(passive, draco, strict=True)):
        for policy, ofr in (("passive", p), ("draco", d)):
            rows.append({"setup": "synthetic", "capacity": capacity, "mp": mp, "seed": seed,
                         "policy": policy, "ofr": ofr, "reward": -ofr,
                         **{k: 0.0 for k in rd.METRIC_PATHS if k != "ofr"}})
    return rows


def test_paired_changes_are_per_seed():
    rows = _rows([0.2, 0.25], [0.1, 0.2])
    result = rd.paired(rows, {"setup": "synthetic", "capacity": 60, "mp": 1}, "ofr", "draco")
    assert result["seeds"] == 2
    assert result["change"] == pytest.approx(np.mean([0.1 / 0.2 - 1, 0.2 / 0.25 - 1]))


def test_verdict_needs_the_whole_interval_above_the_target():
    good = rd.summarize(_rows([0.20, 0.21, 0.19, 0.22, 0.20], [0.12, 0.13, 0.12, 0.13, 0.12]))
    assert "REPRODUCED" in rd.verdicts(good)[0]
    noisy = rd.summarize(_rows([0.20, 0.21, 0.19, 0.22, 0.20], [0.12, 0.22, 0.10, 0.21, 0.19]))
    assert "NOT reproduced" in rd.verdicts(noisy)[0]


def test_warm_started_runs_are_named_and_compared_with_their_clone_before_rl():
    rows = _rows([0.20, 0.21, 0.19, 0.22, 0.20], [0.16, 0.17, 0.15, 0.18, 0.16])
    for seed, ofr in enumerate([0.14, 0.15, 0.13, 0.16, 0.14]):
        rows.append({**rows[2 * seed], "policy": "draco_clone", "ofr": ofr, "reward": -ofr})
    summary = rd.summarize(rows)
    draco = next(c for c in summary["cells"] if c["policy"] == "draco")
    # paired per seed against the clone: draco / clone - 1, and the reward difference
    assert draco["ofr_vs_clone"]["change"] == pytest.approx(np.mean(
        [0.16 / 0.14, 0.17 / 0.15, 0.15 / 0.13, 0.18 / 0.16, 0.16 / 0.14]) - 1)
    assert draco["reward_minus_clone"][0] == pytest.approx(-0.02)
    lines = rd.verdicts(summary, "backoff15")
    assert lines[0].startswith("capacity 60, MP 1: DRACO (warm start: clone of backoff15")
    assert "NOT reproduced" in lines[0]  # -20% [..] is not all above 20%
    assert any(line.startswith("  after the RL steps against the clone") for line in lines)
    clone_line = next(line for line in lines if "before any RL step" in line)
    assert "(at the 20% level)" in clone_line  # 0.14/0.20: -30%, the interval above 20%
    assert "ofr_vs_clone" not in next(  # without a clone row nothing is compared
        c for c in rd.summarize(_rows([0.2, 0.2], [0.1, 0.1]))["cells"] if c["policy"] == "draco")


def test_every_metric_path_exists_in_the_env():
    env = auction_envs.make(rd.newest_id("V2XOffloading"), max_cycles=5)
    env.reset(seed=0)
    while env.agents:
        env.step({a: np.array([1.0, 0.4], np.float32) for a in env.agents})
    metrics = env.unwrapped.metrics()
    for name, path in rd.METRIC_PATHS.items():
        assert np.isfinite(rd.read_metric(metrics, path)), name
    assert len(rd.read_metric(metrics, rd.VEHICLE_OFR_PATH)) == 30
    assert math.isnan(rd.read_metric(metrics, ("no_such_metric",)))


def test_newest_id_takes_the_highest_version(monkeypatch):
    monkeypatch.setattr(auction_envs, "list_envs", lambda: [
        "auction_envs/V2XOffloading-v0", "auction_envs/V2XOffloading-v1",
        "auction_envs/V2XOffloadingIntersection-v2"])
    assert rd.newest_id("V2XOffloading") == "auction_envs/V2XOffloading-v1"
    assert rd.newest_id("V2XOffloadingIntersection") == "auction_envs/V2XOffloadingIntersection-v2"
    with pytest.raises(ValueError, match="no registered id"):
        rd.newest_id("Nothing")


def test_scripted_backoff_holds_only_above_the_threshold():
    env = auction_envs.make(rd.newest_id("V2XOffloading"))
    observations, _ = env.reset(seed=0)
    policy = rd.ScriptedBackoff(env, threshold=0.8, alpha=0.3)
    read = rd.observation_reader(env, "system_utilization")
    agent = env.possible_agents[0]
    assert read(observations[agent]) < 0.8
    assert policy.act(observations)[agent][0] == 1.0
    busy = dict(observations)
    busy[agent] = observations[agent].copy()
    layout = getattr(env.unwrapped, "layout", None)
    if layout is not None and "system_utilization" in layout:
        busy[agent][layout.slice("system_utilization")] = 0.9
    else:
        from auction_envs.envs.v2x.env import HEADER_FIELDS

        busy[agent][HEADER_FIELDS.index("system_utilization")] = 0.9
    assert policy.act(busy)[agent][0] == pytest.approx(0.3)


def test_a_tiny_run_writes_json_tables_figures_and_resumes(tmp_path, capsys):
    argv = ["--capacities", "60", "--mp", "1", "--seeds", "0", "1", "--train-steps", "16",
            "--eval-steps", "12", "--ppo-capacities", "--no-intersection", "--no-progress",
            "--checkpoint-dir", str(tmp_path / "runs"), "--json", str(tmp_path / "out.json"),
            "--png", str(tmp_path / "fig")]
    payload = rd.main(argv)
    printed = capsys.readouterr().out
    assert "OFR against capacity" in printed and "capacity 60, MP 1" in printed
    saved = json.loads((tmp_path / "out.json").read_text())
    # passive, scripted, backoff, backoff15, draco (ψ), draco_br (ζ) x 2 seeds
    assert len(saved["rows"]) == 12
    assert {r["policy"] for r in saved["rows"]} == {"passive", "scripted", "backoff", "backoff15",
                                                    "draco", "draco_br"}
    assert all((tmp_path / f"fig_{n}.png").exists() for n in ("ofr", "failure_mix",
                                                             "vehicle_ofr_cdf"))
    # a rerun reuses the finished training runs: identical DRACO evaluations
    again = rd.main([*argv[:-4], "--json", str(tmp_path / "again.json"), "--png", ""])
    draco = [r["ofr"] for r in payload["rows"] if r["policy"] == "draco"]
    assert draco == [r["ofr"] for r in again["rows"] if r["policy"] == "draco"]
