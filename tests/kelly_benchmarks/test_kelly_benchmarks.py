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


def test_heterogeneous_dynamics_rows_and_figures(tmp_path):
    out = tmp_path / "het"
    kelly_heterogeneous.main(["--runs", "2", "--out", str(out), "--json", str(tmp_path / "h.json")])
    rows = json.loads((tmp_path / "h.json").read_text())
    assert len(rows) == 3 * 9 * 2
    ne = rows[0]["ne_normalized_payoff"]
    assert 0 < ne < 1
    payoffs = np.array([r["time_average_normalized_payoff"] for r in rows])
    assert np.all(np.abs(payoffs - ne) < 0.05)  # close to the NE's, as in the paper
    for name in ("trajectories_BR_DAQ.png", "trajectories_BR_OGD.png",
                 "trajectories_DAQ_OGD.png", "payoff_vs_fraction.png"):
        assert (out / name).stat().st_size > 10_000


def test_normalization_matches_the_env():
    import auction_envs

    env = auction_envs.make("auction_envs/KellyGame-v0")
    a = env.unwrapped.valuations
    low, high = kelly_heterogeneous.payoff_range(a, 400.0, 1.0, 0.1)
    env.reset(seed=0)
    env.step({agent: np.array([50.0]) for agent in env.possible_agents})
    metrics = env.unwrapped.metrics()
    expected = (metrics["mean_payoff"] - low) / (high - low)
    np.testing.assert_allclose(metrics["normalized_payoff"], expected, rtol=1e-12)


def test_quick_run():
    rows = quick_run(seed=0)
    assert len(rows) == 4 * 4  # (2 envs x 2 learners) x 4 metrics
    for row in rows:
        assert {"env_id", "policy", "metric", "value", "reference"} <= set(row)
        if row["metric"] == "mean normalized payoff":
            assert row["value"] < row["reference"] + 1e-3
    best_response = [r for r in rows if r["policy"].startswith("BR") and r["metric"].startswith("residual")]
    assert len(best_response) == 2 and all(r["value"] <= 1e-5 for r in best_response)
