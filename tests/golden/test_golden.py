"""Every built-in id reproduces its golden seeded trajectory bit for bit (refactors change nothing).

A deliberate behaviour change re-records the affected ids
(``python -m auction_envs.testing.golden ID ...``) and names the change in the env's Version History.
"""

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
