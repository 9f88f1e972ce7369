"""BenchMARL: any registered market as a BenchMARL task (``TaskClass``).

BenchMARL 1.5.2 pins ``torchrl<0.12`` and ``tensordict<0.12``, so it lives in its own virtualenv
(docs/recipes/benchmarl.md), never beside the ``torchrl`` extra. The task builds the env with
:func:`auction_envs.wrappers.torchrl.torchrl_env` (one group per agent kind) and reports its groups,
specs and horizon to BenchMARL:

    from auction_envs.wrappers.benchmarl import market_task
    task = market_task("auction_envs/KellyGame-v0", n_agents=4, max_cycles=100)
    Experiment(task=task, algorithm_config=MappoConfig.get_from_yaml(), ...).run()

Importing this module imports ``benchmarl`` (BenchMARL pickles the task with the experiment, so
the class must live at module level); nothing else in ``auction_envs`` imports it.
"""

from __future__ import annotations

from typing import Any

try:
    from benchmarl.environments.common import TaskClass
except ImportError as error:  # not a dependency: its pins conflict with the torchrl extra
    raise ImportError("auction_envs.wrappers.benchmarl needs BenchMARL in its own virtualenv: "
                      "see docs/recipes/benchmarl.md") from error
from torchrl.data import Composite

from auction_envs.wrappers.torchrl import torchrl_env


def _only(spec: Composite, groups: list[str], key: str) -> Composite:
    """The groups' ``key`` entries of an observation spec (``observation`` or ``info``)."""
    spec = spec.clone()
    for group in groups:
        for other in [k for k in spec[group].keys() if k != key]:
            del spec[group][other]
    return spec


class MarketTask(TaskClass):
    """A registered market: ``config`` holds its ``env_id`` and its ``make`` keyword arguments;
    ``name`` is the id's last part (BenchMARL makes a folder of it)."""

    def get_env_fun(self, num_envs: int, continuous_actions: bool, seed: int | None,
                    device: Any) -> Any:
        config = dict(self.config)
        env_id = config.pop("env_id")
        return lambda: torchrl_env(env_id, seed=seed, device=device, **config)

    def supports_continuous_actions(self) -> bool:
        return True

    def supports_discrete_actions(self) -> bool:
        return True  # the IoV slicers (MultiDiscrete); every other agent acts in a Box

    def max_steps(self, env: Any) -> int:
        return int(env._env.unwrapped.max_cycles)

    def has_render(self, env: Any) -> bool:
        return False

    def group_map(self, env: Any) -> dict[str, list[str]]:
        return env.group_map

    def observation_spec(self, env: Any) -> Composite:
        return _only(env.observation_spec, list(env.group_map), "observation")

    def info_spec(self, env: Any) -> Composite | None:
        return _only(env.observation_spec, list(env.group_map), "info")

    def state_spec(self, env: Any) -> Composite | None:
        return None  # centralised critics see the group's stacked observations

    def action_spec(self, env: Any) -> Composite:
        return env.full_action_spec

    def action_mask_spec(self, env: Any) -> Composite | None:
        return None  # every agent acts until the episode ends

    @staticmethod
    def env_name() -> str:
        return "auction_envs"


def market_task(env_id: str, **make_kwargs: Any) -> MarketTask:
    """The BenchMARL task of ``env_id`` built with ``make_kwargs`` (``max_cycles`` sets the
    episode length BenchMARL reads)."""
    return MarketTask(name=env_id.split("/")[-1], config={"env_id": env_id, **make_kwargs})
