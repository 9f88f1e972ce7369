"""The Kelly paper reproductions run and show the paper's qualitative findings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import kelly_heterogeneous, kelly_table1
from benchmarks.quick_kelly import quick_run


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("t1") / "table1.json"
    kelly_table1.main(["--runs", "8", "--json", str(path)])
    return json.loads(path.read_text())


def _cell(records, gamma, n, algorithm):
    return next(r["iterations"] for r in records
                if (r["gamma"], r["n"], r["algorithm"]) == (gamma, n, algorithm))


def test_table1_json_has_every_cell(table):
    assert len(table) == 9 * 6
    assert set(table[0]) == {"gamma", "n", "algorithm", "iterations"}
    assert {r["algorithm"] for r in table} == set(kelly_table1.ALGORITHMS)


def test_table1_shows_the_papers_findings(table):
    for gamma in kelly_table1.GAMMAS:
        br = [_cell(table, gamma, n, "BR") for n in kelly_table1.NS]
        assert all(1 <= value <= 16 for value in br)  # single digits to ~15 (a mean)
        assert br[0] > br[1] and br[0] > br[2]  # faster with more players
        for n in kelly_table1.NS:
            assert _cell(table, gamma, n, "DAQ_V") is None  # never reaches 1e-5
            others = [_cell(table, gamma, n, a) for a in ("OGD_V", "OGD_F", "DAQ_F", "RRM_V")]
            assert all(value is not None and value > _cell(table, gamma, n, "BR")
                       for value in others)
            assert _cell(table, gamma, n, "RRM_V") > _cell(table, gamma, n, "DAQ_F") \
                > _cell(table, gamma, n, "OGD_F")


def test_table1_cells_close_to_the_paper_where_the_spread_is_small(table):
    for (gamma, n), paper in kelly_table1.PAPER.items():
        for algorithm, value in zip(kelly_table1.ALGORITHMS, paper):
            if algorithm in ("BR", "OGD_F", "DAQ_F") and n >= 10:
                assert _cell(table, gamma, n, algorithm) == pytest.approx(value, rel=0.1)


@pytest.fixture(scope="module")
def heterogeneous():
    rows, extra = kelly_heterogeneous.reproduce(runs=2, pairs=(("BR", "OGD"),), ks=(5, 9))
    return rows, extra


def test_heterogeneous_faithful_dynamics_converge_to_the_ne(heterogeneous):
    rows, _ = heterogeneous
    faithful = [r for r in rows if r["feedback"] == "faithful"]
    assert len(faithful) == 2
    for row in faithful:
        assert max(row["final_residual"]) < 1e-5
        payoffs = np.r_[row["payoff_A"], row["payoff_B"]]
        assert np.all(np.abs(payoffs - row["ne_normalized_payoff"]) < 0.02)


def test_own_group_feedback_reproduces_the_papers_section_iv_b_claims(heterogeneous):
    rows, _ = heterogeneous
    checks = {(c["feedback"], c["claim"][:3]): c for c in kelly_heterogeneous.verdicts(rows)}
    for claim in ("(1)", "(2)", "(3)"):
        assert checks[("own_group", claim)]["holds"] is True
        assert checks[("faithful", claim)]["holds"] is False
    lone = next(r for r in rows if r["feedback"] == "own_group" and r["k"] == 9)
    assert min(lone["late_bid_std_B"]) > 5.0 and max(lone["late_bid_std_A"]) < 1e-6
    assert min(lone["final_residual"]) > 1.0
    assert min(lone["payoff_A"]) > lone["ne_normalized_payoff"]


def test_heterogeneous_cli_writes_json_table_and_figures(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(kelly_heterogeneous, "PAIRS", (("BR", "OGD"),))
    original = kelly_heterogeneous.reproduce
    monkeypatch.setattr(kelly_heterogeneous, "reproduce",
                        lambda *args, **kwargs: original(*args, ks=(9,), pairs=(("BR", "OGD"),),
                                                         **kwargs))
    png = tmp_path / "het.png"
    kelly_heterogeneous.main(["--runs", "1", "--no-progress", "--json", str(tmp_path / "h.json"),
                              "--png", str(png)])
    out = capsys.readouterr().out
    assert "own group" in out and "faithful" in out and "(2) lone gradient bidder" in out
    payload = json.loads((tmp_path / "h.json").read_text())
    assert len(payload["rows"]) == 2 and len(payload["verdicts"]) == 10
    assert png.stat().st_size > 10_000
    assert (tmp_path / "het_trajectories.png").stat().st_size > 10_000


def test_normalization_matches_the_env():
    import auction_envs

    env = auction_envs.make("auction_envs/KellyGame-v0")
    low, high = env.unwrapped.payoff_range("bidder_0")
    env.reset(seed=0)
    env.step({agent: np.array([50.0]) for agent in env.possible_agents})
    metrics = env.unwrapped.metrics()
    expected = (metrics["mean_payoff"] - low) / (high - low)
    np.testing.assert_allclose(metrics["normalized_payoff"], expected, rtol=1e-12)
    # the paper's phi_min: bid eps or c against s_max = 9 c + delta; phi_max: BR against 9 eps + delta
    s_max, s_min = 9 * 400 + 0.1, 9 * 1 + 0.1
    assert low == pytest.approx(min(100 * np.log(1 / (1 + s_max)) - 1,
                                    100 * np.log(400 / (400 + s_max)) - 400))
    best = (-s_min + np.sqrt(s_min**2 + 4 * 100 * s_min)) / 2
    assert high == pytest.approx(100 * np.log(best / (best + s_min)) - best)


def test_quick_run():
    rows = quick_run(seed=0)
    assert len(rows) == 4 * 4  # (2 envs x 2 learners) x 4 metrics
    for row in rows:
        assert {"env_id", "policy", "metric", "value", "reference"} <= set(row)
        if row["metric"] == "mean normalized payoff":
            assert row["value"] < row["reference"] + 1e-3
    best_response = [r for r in rows if r["policy"].startswith("BR") and r["metric"].startswith("residual")]
    assert len(best_response) == 2 and all(r["value"] <= 1e-5 for r in best_response)
