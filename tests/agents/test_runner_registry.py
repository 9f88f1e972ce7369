"""``agents.runner`` trains every registered id with the learners that fit it, says which fit when
one does not, and evaluates a policy trained elsewhere (SB3) through ``agents.adapters``."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs
from agents.adapters import PolicyLearner
from agents.registry import learners_for
from agents.runner import RunConfig, evaluate, learner_factory, main, train

CHEAP_KINDS = ("random", "scripted")


@pytest.mark.parametrize("env_id", auction_envs.list_envs())
def test_every_id_trains_with_its_cheap_learners(env_id: str) -> None:
    specs = [spec for spec in learners_for(env_id) if spec.kind in CHEAP_KINDS]
    assert specs, f"no random or scripted learner fits {env_id}"
    for spec in specs:
        factory, env_kwargs = learner_factory(env_id, spec.name, seed=0)
        result = train(factory, RunConfig(env_id, rounds=3, env_kwargs=env_kwargs,
                                          tensorboard=False, progress=False))
        assert result["rounds"] == 3, (env_id, spec.name)


def test_a_learner_that_does_not_fit_names_those_that_do(capsys) -> None:
    with pytest.raises(ValueError, match=r"does not fit .*CloudDoubleAuction-v1.*fit .*FixedMarkup"):
        learner_factory("auction_envs/CloudDoubleAuction-v1", "OGD_F")
    with pytest.raises(ValueError, match="plays the Kelly games only"):
        learner_factory("auction_envs/IoVSlicing-v1", "DAQ_V")
    with pytest.raises(ValueError, match="no learner 'Nope'"):
        learner_factory("auction_envs/KellyGame-v0", "Nope")
    with pytest.raises(SystemExit):
        main(["--env", "auction_envs/CloudDoubleAuction-v1", "--learner", "BR"])
    assert "learners that fit auction_envs/CloudDoubleAuction-v1" in capsys.readouterr().err
    main(["--list", "--env", "auction_envs/KellyGame-v0"])
    listed = capsys.readouterr().out
    assert "OGD_F" in listed and "FixedMarkup" not in listed


def test_cli_trains_a_no_regret_rule_and_a_registered_learner(capsys) -> None:
    main(["--env", "auction_envs/KellyGame-v0", "--learner", "DAQ_V", "--rounds", "5",
          "--env-kwargs", '{"n_agents": 3}', "--no-tensorboard", "--eval-episodes", "0"])
    main(["--env", "auction_envs/KellyGame-v0", "--learner", "Hedge", "--rounds", "5",
          "--no-tensorboard", "--eval-episodes", "0"])  # its counterfactual grid comes along
    assert capsys.readouterr().out.count('"rounds": 5') == 2


def test_policy_adapter_evaluates_a_shared_policy_with_the_market_metrics() -> None:
    env_id = "auction_envs/KellyGame-v0"
    equilibrium = float(auction_envs.make(env_id, n_agents=3).unwrapped.equilibrium()[0])
    at_equilibrium = PolicyLearner(lambda obs: np.full((len(obs), 1), equilibrium))
    result = evaluate(at_equilibrium, env_id, episodes=1, env_kwargs={"n_agents": 3},
                      max_rounds=5)
    assert result["rounds"] == 5 and result["env/nash_conv"] == pytest.approx(0.0, abs=1e-6)
    off = evaluate(PolicyLearner(lambda obs: np.full((len(obs), 1), 3 * equilibrium)), env_id,
                   env_kwargs={"n_agents": 3}, max_rounds=5)
    assert off["env/nash_conv"] > 1.0
    with pytest.raises(ValueError, match="one row per agent"):
        PolicyLearner(lambda obs: np.zeros((1, 1))).act({"a": np.zeros(2), "b": np.zeros(2)})


def test_policy_adapter_takes_an_sb3_model() -> None:
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from auction_envs.wrappers.sb3 import sb3_native_vec_env

    venv = sb3_native_vec_env("auction_envs/KellyGame-v0", num_envs=1, n_agents=3)
    model = PPO("MlpPolicy", venv, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    learner = PolicyLearner.from_sb3(model)
    first = evaluate(learner, "auction_envs/KellyGame-v0", env_kwargs={"n_agents": 3},
                     max_rounds=3)
    again = evaluate(learner, "auction_envs/KellyGame-v0", env_kwargs={"n_agents": 3},
                     max_rounds=3)
    assert first == again and np.isfinite(first["env/nash_conv"])
