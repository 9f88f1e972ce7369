"""TorchRL: every market as a TorchRL env with one group per agent kind.

TorchRL's ``PettingZooWrapper`` stacks the agents of a group into one tensor, so a group must hold
agents with the same observation and action spaces; without a ``group_map`` it guesses the groups
from the agent names, which splits the cloud market's providers (``provider_d1``, ``provider_s1``,
...) into one-agent groups. :func:`agent_groups` groups the agents by kind (the name before its
last ``_``: ``bidder``, ``vsp``, ``slicer``, ``provider``, ``vehicle``, ``trader``,
``mechanism``), splitting a kind whose spaces differ.

    from auction_envs.wrappers.torchrl import torchrl_env
    env = torchrl_env("auction_envs/KellyGame-v0", n_agents=4, seed=0)
    rollout = env.rollout(10)                # rollout["bidder", "observation"]: [10, 4, 8]

Needs the ``torchrl`` extra (``pip install -e ".[torchrl]"``); the recipe is docs/recipes/torchrl.md.
"""

from __future__ import annotations

from typing import Any

from pettingzoo import ParallelEnv


def agent_groups(env: ParallelEnv) -> dict[str, list[str]]:
    """``{kind: [agents]}`` in agent order; a kind whose agents' spaces differ is split into
    ``kind_0``, ``kind_1``, ... (one group per distinct pair of spaces)."""
    kinds: dict[str, list[str]] = {}
    for agent in env.possible_agents:
        kinds.setdefault(agent.rsplit("_", 1)[0] if "_" in agent else agent, []).append(agent)
    groups: dict[str, list[str]] = {}
    for kind, agents in kinds.items():
        by_space: dict[tuple[str, str], list[str]] = {}
        for agent in agents:
            key = (repr(env.observation_space(agent)), repr(env.action_space(agent)))
            by_space.setdefault(key, []).append(agent)
        if len(by_space) == 1:
            groups[kind] = agents
        else:
            groups.update({f"{kind}_{k}": members for k, members in enumerate(by_space.values())})
    return groups


def torchrl_env(env: str | ParallelEnv, *, seed: int | None = None, device: str = "cpu",
                **make_kwargs: Any) -> Any:
    """``env`` (a registered id, built with ``make_kwargs``, or a parallel env) as TorchRL's
    ``PettingZooWrapper`` with :func:`agent_groups` as its ``group_map``.

    Every market keeps all its agents until the episode ends, so no action mask is needed
    (``use_mask=False``); rewards, terminations and truncations are per group
    (``td[group, "reward"]``), infos under ``td[group, "info"]`` with the keys the env documents.
    """
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    import auction_envs

    if isinstance(env, str):
        env = auction_envs.make(env, **make_kwargs)
    elif make_kwargs:
        raise TypeError("make_kwargs apply only when env is an id")
    return PettingZooWrapper(env, group_map=agent_groups(env), use_mask=False,
                             categorical_actions=False, seed=seed, device=device)
