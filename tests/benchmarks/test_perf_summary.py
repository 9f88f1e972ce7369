"""benchmarks.perf's summary: ratios of medians and paired ratios from known samples."""

import pytest

from benchmarks import perf


def test_paired_ratio_is_the_median_of_the_repetitions_ratios() -> None:
    env_id = "auction_envs/KellyGame-v0"
    # repetition 2 caught a slow spell on the current side only; 3 on both sides
    samples = {f"current|{env_id}": {"steps_per_s": [300.0, 100.0, 150.0, 330.0, 310.0]},
               f"baseline|{env_id}": {"steps_per_s": [100.0, 100.0, 50.0, 100.0, 100.0]},
               f"current|{perf.KELLY_ID}|mpe": {"steps_per_s": [2000.0, 2200.0, 1000.0]},
               f"current|{perf.MPE_ID}|mpe": {"steps_per_s": [100.0, 100.0, 50.0]}}
    summary = perf.summarize(samples, [env_id], mpe=True, baseline=True)
    row = summary["markets"][env_id]
    assert row["speedup"] == pytest.approx(300.0 / 100.0)  # medians 300 and 100
    assert row["paired_speedup"] == pytest.approx(3.0)  # median of 3, 1, 3, 3.3, 3.1
    assert row["meets_target"] is True  # 3.0 >= 3
    kelly = summary["kelly_vs_mpe"]
    assert kelly["ratio"] == pytest.approx(2000.0 / 100.0)
    assert kelly["paired_ratio"] == pytest.approx(20.0)  # median of 20, 22, 20
    assert kelly["meets_target"] is True


def test_a_paired_ratio_below_its_target_is_not_met() -> None:
    env_id = "auction_envs/V2XOffloading-v1"
    # the ratio of medians (310 / 100) would pass; the repetitions' own ratios do not
    samples = {f"current|{env_id}": {"steps_per_s": [310.0, 300.0, 290.0]},
               f"baseline|{env_id}": {"steps_per_s": [110.0, 100.0, 97.0]}}
    row = perf.summarize(samples, [env_id], mpe=False, baseline=True)["markets"][env_id]
    assert row["speedup"] == pytest.approx(3.0)  # medians 300 / 100
    assert row["paired_speedup"] == pytest.approx(290.0 / 97.0)  # of 2.82, 3.0, 2.99
    assert row["meets_target"] is False


def test_paired_ratio_needs_both_sides_of_every_repetition() -> None:
    env_id = "auction_envs/KellyGame-v0"
    samples = {f"current|{env_id}": {"steps_per_s": [300.0, 310.0]},
               f"baseline|{env_id}": {"steps_per_s": [100.0]}}  # a failed repetition
    row = perf.summarize(samples, [env_id], mpe=False, baseline=True)["markets"][env_id]
    assert row["paired_speedup"] is None and row["speedup"] == pytest.approx(3.05)
    row = perf.summarize(samples, [env_id], mpe=False, baseline=False)["markets"][env_id]
    assert row["paired_speedup"] is None and row["speedup"] is None
    assert row["meets_target"] is None
