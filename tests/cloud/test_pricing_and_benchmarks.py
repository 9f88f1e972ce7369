"""Scripted pricing policies for the cloud market, and the comparison / quick-run scripts."""

from __future__ import annotations

import json

import numpy as np
import pytest

import auction_envs
from agents.baselines.cloud_pricing import (
    BudgetShadingPricing,
    FixedMarkupPricing,
    RandomMarkupPricing,
    UtilizationPricing,
)
from benchmarks import cloud_comparison, quick_cloud


@pytest.mark.parametrize("cls", [FixedMarkupPricing, RandomMarkupPricing, UtilizationPricing,
                                 BudgetShadingPricing])
def test_policies_act_inside_the_action_space(cls):
    env = auction_envs.make("auction_envs/CloudDoubleAuction-v1", max_cycles=10)
    policy = cls.for_env(env)
    observations, _ = env.reset(seed=0)
    while env.agents:
        actions = policy.act(observations)
        k = env.unwrapped.batch["bid"].size
        for agent, action in actions.items():
            assert env.action_space(agent).contains(action)
            assert np.all(action[k:] == 0.0)  # empty slots at the low bound
        observations, *_ = env.step(actions)


def test_budget_shading_asks_the_fraction_of_the_budget_under_cdara():
    env = auction_envs.make("auction_envs/CloudDoubleAuction-v1", mechanism="cdara",
                            multiplier_high=50.0, baseline_markup=None)
    policy = BudgetShadingPricing.for_env(env, fraction=0.6)
    observations, _ = env.reset(seed=1)
    budgets = env.unwrapped.batch["bid"].copy()
    reserve = env.unwrapped.bundle_reserve()[0]  # provider d1's base cost of each bundle
    _, _, _, _, infos = env.step(policy.act(observations))
    offers = infos["provider_d1"]["offers"][: budgets.size]
    # the ask is 0.6 x budget, or the base cost where that is above (multiplier clipped at 0)
    np.testing.assert_allclose(offers, np.maximum(0.6 * budgets, reserve), rtol=1e-5)
    assert np.any(0.6 * budgets > reserve)


def test_random_policy_save_load_replays(tmp_path):
    env = auction_envs.make("auction_envs/CloudDoubleAuction-v1")
    policy = RandomMarkupPricing.for_env(env, seed=3)
    observations, _ = env.reset(seed=0)
    policy.save(tmp_path / "p.npz")
    first = policy.act(observations)
    clone = RandomMarkupPricing.for_env(env, seed=99)
    clone.load(tmp_path / "p.npz")
    second = clone.act(observations)
    for agent in first:
        np.testing.assert_array_equal(first[agent], second[agent])


def test_comparison_script_writes_json_and_png(tmp_path, capsys):
    code = cloud_comparison.main(["--episodes", "1", "--steps", "8", "--json",
                                  str(tmp_path / "c.json"), "--png", str(tmp_path / "c.png")])
    assert code == 0
    out = capsys.readouterr().out
    assert "RTRM-Fair" in out and "ICAA" in out and "claims" in out
    payload = json.loads((tmp_path / "c.json").read_text())
    assert set(payload["results"]) == {"RTRM", "RTRM-Fair", "CDARA", "CDARA-Fair", "ICAA",
                                       "ICAA-Fair"}
    assert len(payload["claims"]) == 4
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_quick_run_rows():
    rows = quick_cloud.quick_run(seed=0)
    assert {r["metric"] for r in rows} >= {"buyer_utility", "jain_wins", "buyer_drops"}
    failures = [r for r in rows if r["metric"] == "deadline_failures"]
    assert failures and all(r["value"] == r["reference"] == 0 for r in failures)
    fair = [r for r in rows if r["env_id"].endswith("Fair-v1")
            and r["metric"] == "providers_without_win"]
    assert fair[0]["value"] == 0


def test_markup_sweep_and_best_responses_write_their_studies(tmp_path, capsys):
    path = tmp_path / "sweep.json"
    code = cloud_comparison.main(["--sweep", "0,1.5", "--best-response", "0,1", "--seeds", "2",
                                  "--rounds", "1", "--steps", "5", "--json", str(path),
                                  "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "best fixed markup" in out and "joint claim needs" in out
    payload = json.loads(path.read_text())
    assert payload["command"].startswith("python -m benchmarks.cloud_comparison --sweep 0,1.5")
    rows = payload["sweep"]
    assert [row["markup"] for row in rows] == [0.0, 1.5]
    best = max(rows, key=lambda row: row["total_provider_utility"]["mean"])
    assert payload["best_markup"] == best["markup"]
    for row in rows:  # the surplus never exceeds its bound
        assert row["surplus"]["mean"] <= row["surplus_bound"]["mean"] + 1e-9
    response = payload["best_response"]
    assert set(response["profile"].values()) <= {0.0, 1.0}
    assert 0 <= response["providers_above_both"]["mean"] <= 7
