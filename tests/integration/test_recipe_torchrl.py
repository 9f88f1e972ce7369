"""docs/recipes/torchrl.md runs as written and its PPO bidders move toward the equilibrium; its
training functions raise the welfare of the learned IoV slicers and the cloud providers' utility;
every registered id wraps in TorchRL with one group per agent kind."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import auction_envs

pytest.importorskip("torchrl")

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "recipes" / "torchrl.md"


def _recipe_code() -> str:
    return re.search(r"<!-- recipe: torchrl -->\n```python\n(.*?)```", PAGE.read_text(), re.S)[1]


def _recipe(tmp_path: Path) -> dict[str, Any]:
    """The recipe block imported (not run as a script): its ``group_ppo``, ``train``, ..."""
    script = tmp_path / "recipe.py"
    script.write_text(_recipe_code())
    return runpy.run_path(str(script), run_name="recipe")


def _episode_metric(env_id: str, make_kwargs: dict[str, Any], policy: Any, metric: str) -> float:
    """``metric`` of the market after one episode of ``policy`` (sampling its actions) on a fresh
    env, seed 123 for the market and 7 for the sampling: the same episode conditions for the
    untrained and the trained policy."""
    import torch
    from torchrl.envs.utils import ExplorationType, set_exploration_type

    from auction_envs.wrappers.torchrl import torchrl_env

    env = torchrl_env(env_id, seed=123, **make_kwargs)
    torch.manual_seed(7)
    with torch.no_grad(), set_exploration_type(ExplorationType.RANDOM):
        env.rollout(make_kwargs["max_cycles"], policy)
    return float(env._env.unwrapped.metrics()[metric])


def test_every_id_wraps_with_one_group_per_kind() -> None:
    from torchrl.envs.utils import check_env_specs

    from auction_envs.wrappers.torchrl import agent_groups, torchrl_env

    for env_id in auction_envs.list_envs():
        env = torchrl_env(env_id, seed=0)
        groups = agent_groups(env._env)
        assert set(env.group_map) == set(groups), env_id
        assert sum(map(len, groups.values())) == len(env._env.possible_agents)
        check_env_specs(env, seed=0)  # reset and step data inside the specs built from reset
        env.close()
    cloud = agent_groups(auction_envs.make("auction_envs/CloudDoubleAuction-v1"))
    assert list(cloud) == ["provider"] and len(cloud["provider"]) == 7


@pytest.mark.slow
def test_recipe_runs_as_written_and_bids_move_toward_the_equilibrium(tmp_path: Path) -> None:
    script = tmp_path / "recipe.py"
    script.write_text(_recipe_code())
    run = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    found = re.search(r"mean bid ([\d.]+) -> ([\d.]+) \(Nash equilibrium ([\d.]+)\)", run.stdout)
    assert found, run.stdout
    initial, final, equilibrium = map(float, found.groups())
    # the initial policy bids the middle of [1, 400]; training must close >= 10% of the gap
    assert abs(final - equilibrium) < 0.9 * abs(initial - equilibrium)


def test_recipe_slicers_raise_the_iov_welfare(tmp_path: Path) -> None:
    import torch
    from tensordict.nn import TensorDictSequential

    from auction_envs.wrappers.torchrl import torchrl_env

    recipe = _recipe(tmp_path)
    env_id = "auction_envs/IoVSlicingLearned-v1"
    market = {"n_vsps": 5, "max_cycles": 20, "instance_seed": 0}
    torch.manual_seed(0)
    env = torchrl_env(env_id, seed=0, **market)
    slicers = recipe["group_ppo"](env, "slicer")
    # bids of 1 total far below the optimum (~1000): never perturbed, the welfare is the slicers'
    bidders = recipe["constant_action"]("vsp", 1.0, (1,))
    policy = TensorDictSequential(slicers[0], bidders)
    before = _episode_metric(env_id, market, policy, "mean_efficiency")
    recipe["train"](env, {"slicer": slicers}, {"slicer": 5 * 200.0}, others=[bidders],
                    iterations=16, frames=20)
    after = _episode_metric(env_id, market, policy, "mean_efficiency")
    # the untrained policy samples near-uniform levels (uniformly random slicers: ~0.85 of the
    # optimum; keeping the slices: ~0.95); measured 0.852 -> 0.917 (24 iterations: 0.935)
    assert after > before + 0.03, (before, after)
