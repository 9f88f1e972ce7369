"""The cloud ids' golden trajectories on the numpy path of ``earliest_start``.

Where numba is installed, ``tests/golden`` runs the cloud market with the compiled loops; here the
same records are replayed with numba switched off, so both paths are held to the records.
"""

from pathlib import Path

import pytest

import auction_envs
from auction_envs.mechanisms import double_auction
from auction_envs.testing import golden

DATA = Path(__file__).parents[1] / "golden" / "data"
CLOUD_IDS = [env_id for env_id in auction_envs.list_envs() if "CloudDoubleAuction" in env_id]

pytestmark = pytest.mark.skipif(double_auction._compiled_earliest_start_loops() is None,
                                reason="without numba tests/golden already runs the numpy path")


@pytest.mark.parametrize("env_id", CLOUD_IDS)
def test_golden_trajectory_on_the_numpy_path(env_id, monkeypatch):
    monkeypatch.setattr(double_auction, "_compiled_earliest_start_loops", lambda: None)
    expected, actions = golden.load(DATA, env_id)
    actual, _ = golden.record(env_id, steps=expected["steps"], seed=expected["seed"],
                              actions=actions, **expected["kwargs"])
    assert golden.compare(expected, actual) == []
