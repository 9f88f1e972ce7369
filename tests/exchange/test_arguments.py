"""Exchange constructors check every argument once (issue 19), infos do not alias the env's
state, and learners use only the public API (issue 11)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import auction_envs
from auction_envs.core import InvalidArgumentError
from auction_envs.core.errors import ResetNeededError

CES_IDS = ["auction_envs/ExchangeEconomy-v0", "auction_envs/ExchangeEconomyMechanism-v0"]
AMDAHL_IDS = ["auction_envs/ExchangeEconomyAmdahl-v0",
              "auction_envs/ExchangeEconomyMechanismAmdahl-v0"]


@pytest.mark.parametrize("env_id", CES_IDS)
def test_ces_ids_reject_an_amdahl_parameter(env_id):
    with pytest.raises(InvalidArgumentError) as error:
        auction_envs.make(env_id, F=0.3)
    assert error.value.name == "F"


@pytest.mark.parametrize("env_id", AMDAHL_IDS)
def test_amdahl_ids_reject_a_ces_parameter(env_id):
    with pytest.raises(InvalidArgumentError) as error:
        auction_envs.make(env_id, rho=0.3)
    assert error.value.name == "rho"


@pytest.mark.parametrize("kwargs,name", [
    ({"reveal_preferences": "no"}, "reveal_preferences"),
    ({"reveal_preferences": 0}, "reveal_preferences"),
    ({"n_agents": 1}, "n_agents"), ({"n_agents": 2.0}, "n_agents"), ({"n_goods": 0}, "n_goods"),
    ({"noise_std": -0.1}, "noise_std"), ({"noise_std": float("nan")}, "noise_std"),
    ({"theta_range": (0.0, 1.0)}, "theta_range"), ({"theta_range": (1.0, 0.5)}, "theta_range"),
    ({"family": "leontief"}, "family"), ({"rho": 0.0}, "rho"), ({"rho": 1.5}, "rho"),
    ({"family": "amdahl", "F": 1.0}, "F"), ({"family": "linear", "rho": 0.5}, "rho"),
    ({"max_cycles": 0}, "max_cycles"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(InvalidArgumentError) as error:
        auction_envs.make("auction_envs/ExchangeEconomy-v0", **kwargs)
    assert error.value.name == name


def test_family_switch_and_defaults():
    env = auction_envs.make("auction_envs/ExchangeEconomy-v0", family="amdahl", n_agents=3,
                            n_goods=2)
    assert env.unwrapped.family_params == {"family": "amdahl", "F": 0.8}
    assert auction_envs.make("auction_envs/ExchangeEconomy-v0").unwrapped.family.rho == 0.5


@pytest.mark.parametrize("env_id", CES_IDS)
def test_no_market_before_reset(env_id):
    env = auction_envs.make(env_id)
    for call in (env.unwrapped.state, env.unwrapped.metrics, env.unwrapped.equilibrium):
        with pytest.raises(ResetNeededError):
            call()


def test_trader_infos_do_not_alias_the_state():
    env = auction_envs.make("auction_envs/ExchangeEconomy-v0", max_cycles=3)
    env.reset(seed=0)
    actions = {agent: np.full(3, 0.5, dtype=np.float32) for agent in env.agents}
    _, _, _, _, infos = env.step(actions)
    state, metrics = env.unwrapped.state().copy(), env.unwrapped.metrics()
    for info in infos.values():
        for key in ("allocation", "split", "spending", "prices"):
            info[key][...] = 7.0
    np.testing.assert_array_equal(env.unwrapped.state(), state)
    after = env.unwrapped.metrics()
    np.testing.assert_array_equal(after["utilities"], metrics["utilities"])
    assert after["sharing_incentive_loss"] == metrics["sharing_incentive_loss"]


def test_mechanism_infos_do_not_alias_the_state():
    env = auction_envs.make("auction_envs/ExchangeEconomyMechanism-v0", max_cycles=3)
    env.reset(seed=0)
    x, p = env.unwrapped.equilibrium()
    _, _, _, _, infos = env.step({"mechanism": env.unwrapped.encode_action(x, p)})
    state = env.unwrapped.state().copy()
    for key in ("allocation", "prices", "reports"):
        infos["mechanism"][key][...] = 7.0
    np.testing.assert_array_equal(env.unwrapped.state(), state)


def test_layout_reads_the_observation_by_name():
    env = auction_envs.make("auction_envs/ExchangeEconomy-v0", max_cycles=3)
    observations, _ = env.reset(seed=0)
    layout = env.unwrapped.layout
    fields = layout.unpack(observations["trader_1"])
    np.testing.assert_allclose(fields["endowment"], env.unwrapped.endowments[1], rtol=1e-7)
    np.testing.assert_allclose(fields["theta"], env.unwrapped.economy.theta[1], rtol=1e-7)
    assert layout.space() == env.observation_space("trader_1")
    assert "`allocation`" in type(env.unwrapped).__doc__


def test_exchange_learners_import_no_env_internals():
    files = sorted((Path(__file__).parents[2] / "agents" / "exchange").glob("*.py"))
    assert len(files) >= 3
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("auction_envs.envs"), (path, node.module)
