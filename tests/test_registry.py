"""The registry: make, register, list_envs, PettingZoo's registry, helpful errors."""

from __future__ import annotations

import pettingzoo
import pytest
from pettingzoo import AECEnv, ParallelEnv

import auction_envs
from auction_envs import EnvNotFoundError, InvalidArgumentError
from auction_envs.envs.kelly import KellyGameEnv


def test_builtin_ids_are_registered():
    ids = auction_envs.list_envs()
    assert {"auction_envs/KellyGame-v0", "auction_envs/KellyGameHeterogeneous-v0",
            "auction_envs/KellyGameAlphaFair-v0"} <= set(ids)
    assert ids == sorted(ids)


def test_make_returns_a_parallel_env_with_overridable_kwargs():
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=4)
    assert isinstance(env, ParallelEnv) and len(env.possible_agents) == 4
    assert auction_envs.make("KellyGame-v0").unwrapped.n_agents == 10  # namespace optional


@pytest.mark.parametrize("env_id", ["auction_envs/KellyGame-v0", "auction_envs/KellyGameAlphaFair-v0"])
def test_same_ids_work_through_pettingzoo(env_id):
    assert isinstance(pettingzoo.make("parallel", env_id), ParallelEnv)
    assert isinstance(pettingzoo.make("aec", env_id), AECEnv)


def test_unknown_id_lists_close_matches():
    with pytest.raises(EnvNotFoundError) as error:
        auction_envs.make("auction_envs/KelyGame-v0")
    assert "auction_envs/KellyGame-v0" in str(error.value)
    with pytest.raises(EnvNotFoundError, match="no environment"):
        auction_envs.make("Nothing/AtAll-v9")


def test_register_a_new_variant_with_one_call():
    spec = auction_envs.register("mylab/KellyTiny-v0", KellyGameEnv,
                                 kwargs={"n_agents": 3, "max_cycles": 5},
                                 description="three bidders")
    try:
        env = auction_envs.make("mylab/KellyTiny-v0")
        assert len(env.possible_agents) == 3 and env.max_cycles == 5
        assert pettingzoo.make("parallel", "mylab/KellyTiny-v0").max_cycles == 5
        assert spec.description == "three bidders"
        with pytest.raises(InvalidArgumentError, match="override"):
            auction_envs.register("mylab/KellyTiny-v0", KellyGameEnv)
        auction_envs.register("mylab/KellyTiny-v0", KellyGameEnv, kwargs={"n_agents": 2},
                              override=True)
        assert len(auction_envs.make("mylab/KellyTiny-v0").possible_agents) == 2
    finally:
        from auction_envs import registration
        registration._REGISTRY.pop("mylab/KellyTiny-v0", None)
        pettingzoo.parallel_registry.pop("mylab/KellyTiny-v0", None)
        pettingzoo.aec_registry.pop("mylab/KellyTiny-v0", None)


@pytest.mark.parametrize("env_id, entry_point", [
    ("NoNamespace-v0", KellyGameEnv),
    ("mylab/Bad-v0", "not-a-module-path"),
])
def test_register_rejects_malformed_ids_and_entry_points(env_id, entry_point):
    with pytest.raises(InvalidArgumentError):
        auction_envs.register(env_id, entry_point)


def test_pprint_registry_lists_descriptions(capsys):
    auction_envs.pprint_registry()
    out = capsys.readouterr().out
    assert "auction_envs/KellyGame-v0" in out and "Table I" in out
