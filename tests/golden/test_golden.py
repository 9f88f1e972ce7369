"""Every built-in id reproduces its golden seeded trajectory (refactors change nothing): bit for bit
on the machine and libraries that recorded it, to 1e-9 of each step's scale elsewhere.

A deliberate behaviour change re-records the affected ids
(``python -m auction_envs.testing.golden ID ...``) and names the change in the env's Version History.
"""

import json
from pathlib import Path

import pytest

import auction_envs
from auction_envs.testing import golden

DATA = Path(__file__).parent / "data"
BUILT_IN = [env_id for env_id in auction_envs.list_envs() if env_id.startswith("auction_envs/")]


def test_every_built_in_id_has_a_golden_record():
    missing = [env_id for env_id in BUILT_IN if not (DATA / f"{golden.file_stem(env_id)}.json").exists()]
    assert not missing, f"no golden record for {missing}: run python -m auction_envs.testing.golden"


@pytest.mark.parametrize("env_id", BUILT_IN)
def test_golden_trajectory(env_id):
    if not (DATA / f"{golden.file_stem(env_id)}.json").exists():
        pytest.skip("no record (see the test above)")
    expected, actions = golden.load(DATA, env_id)
    actual, _ = golden.record(env_id, steps=expected["steps"], seed=expected["seed"], actions=actions,
                              **expected["kwargs"])
    assert golden.compare(expected, actual) == []


def test_compare_reports_a_changed_step():
    expected, actions = golden.record("auction_envs/KellyGame-v0", steps=5, n_agents=3)
    tampered = {agent: values.copy() for agent, values in actions.items()}
    tampered["bidder_0"][3] += 1.0
    actual, _ = golden.record("auction_envs/KellyGame-v0", steps=5, actions=tampered, n_agents=3)
    problems = golden.compare(expected, actual)
    assert problems and problems[0].startswith("step 4:")


def test_compare_tolerates_last_bit_noise_but_not_a_change():
    """Another numpy build or CPU changes digests in the last bits (seen: 1e-15 relative on the
    exchange and IoV records); the summaries then decide, to 1e-9 of their scale."""
    expected, _ = golden.record("auction_envs/KellyGame-v0", steps=5, n_agents=3)
    noisy = json.loads(json.dumps(expected))
    noisy["step_digests"][2]["rewards"] = "0" * 24  # as if one bit of one reward had moved
    noisy["step_summaries"][2]["rewards"][0] *= 1 + 1e-14
    assert golden.compare(noisy, expected) == []
    changed = json.loads(json.dumps(noisy))
    changed["step_summaries"][2]["rewards"][0] *= 1 + 1e-6
    assert golden.compare(changed, expected) == ["step 2: rewards differ"]
    unsummarized = {k: v for k, v in noisy.items() if k != "step_summaries"}
    assert golden.compare(unsummarized, expected) == ["step 2: rewards differ"]
    metrics = json.loads(json.dumps(expected))
    metrics["metrics_digest"] = "0" * 24
    metrics["metrics"]["welfare"] *= 1 + 1e-6
    assert golden.compare(metrics, expected)[0].startswith("metrics differ")
