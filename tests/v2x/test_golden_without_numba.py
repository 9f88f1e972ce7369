"""The V2X ids' golden trajectories on the numpy paths (observations, held and site phases,
starts of the runs, counts, the reward and the metric counters, the arrivals).

Where numba is installed, ``tests/golden`` runs the V2X markets with the compiled passes; here
the same records are replayed with numba switched off, so both paths are held to the records.
"""

from pathlib import Path

import pytest

import auction_envs
from auction_envs.envs.v2x import arrivals as arrivals_module
from auction_envs.envs.v2x import core as core_module
from auction_envs.envs.v2x import metrics as metrics_module
from auction_envs.envs.v2x import observations as observations_module
from auction_envs.testing import golden

DATA = Path(__file__).parents[1] / "golden" / "data"
V2X_IDS = [env_id for env_id in auction_envs.list_envs() if "V2X" in env_id]

pytestmark = pytest.mark.skipif(core_module._compiled_advance() is None,
                                reason="without numba tests/golden already runs the numpy path")


@pytest.mark.parametrize("env_id", V2X_IDS)
def test_golden_trajectory_on_the_numpy_path(env_id, monkeypatch):
    for module, name in ((observations_module, "_compiled_frame"),
                         (core_module, "_compiled_advance"), (core_module, "_compiled_counts"),
                         (core_module, "_compiled_start"),
                         (core_module, "_compiled_auction"), (metrics_module, "_compiled_tally"),
                         (arrivals_module, "_compiled_arrivals")):
        monkeypatch.setattr(module, name, lambda: None)
    expected, actions = golden.load(DATA, env_id)
    actual, _ = golden.record(env_id, steps=expected["steps"], seed=expected["seed"],
                              actions=actions, **expected["kwargs"])
    assert golden.compare(expected, actual) == []
