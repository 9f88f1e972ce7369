"""The runner: logs, evaluation, checkpoints and resume, terminations vs truncations."""

from __future__ import annotations

import csv
import json

import numpy as np

from agents.no_regret import NoRegretLearner, make_rule
from agents.runner import RunConfig, evaluate, main, train

ENV = "auction_envs/KellyGame-v0"


def _factory(rule="OGD_V", seed=0):
    return lambda env: NoRegretLearner(env, make_rule(rule, horizon=100), seed=seed)


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_train_writes_csv_checkpoint_and_evaluates(tmp_path):
    config = RunConfig(ENV, seed=0, rounds=60, env_kwargs={"n_agents": 3, "max_cycles": 25},
                       eval_every=30, eval_episodes=2, eval_rounds=5, log_dir=str(tmp_path),
                       tensorboard=False, progress=False)
    result = train(_factory(), config)
    assert result["rounds"] == 60 and result["episodes"] == 2  # truncated at 25 and 50
    rows = _rows(tmp_path / "progress.csv")
    assert len([r for r in rows if r.get("reward")]) == 60
    evaluations = [r for r in rows if r.get("eval/return")]
    assert [float(r["step"]) for r in evaluations] == [30.0, 60.0]
    assert float(evaluations[0]["eval/rounds"]) == 5.0
    state = json.loads((tmp_path / "runner.json").read_text())
    assert state["rounds"] == 60
    assert [p.name for p in tmp_path.glob("checkpoint-*.npz")] == [state["checkpoint"]]


def test_resume_continues_exactly_where_a_single_run_would(tmp_path):
    kwargs = {"n_agents": 3, "max_cycles": 40}
    whole = train(_factory("DAQ_V"), RunConfig(ENV, rounds=80, env_kwargs=kwargs,
                                               progress=False, log_dir=str(tmp_path / "whole"),
                                               tensorboard=False))
    train(_factory("DAQ_V"), RunConfig(ENV, rounds=40, env_kwargs=kwargs, progress=False,
                                       log_dir=str(tmp_path / "split"), tensorboard=False))
    resumed = train(_factory("DAQ_V", seed=123), RunConfig(
        ENV, rounds=80, env_kwargs=kwargs, progress=False, log_dir=str(tmp_path / "split"),
        tensorboard=False), resume=True)
    assert resumed["rounds"] == 80
    # the 40-round episodes end on a checkpoint boundary, so the resumed run is the same run
    np.testing.assert_array_equal(resumed["learner"].rule.bids(), whole["learner"].rule.bids())
    whole_rows, split_rows = _rows(tmp_path / "whole/progress.csv"), _rows(tmp_path / "split/progress.csv")
    assert [r["reward"] for r in split_rows] == [r["reward"] for r in whole_rows]


def test_evaluate_does_not_change_the_learner():
    from auction_envs import make

    env = make(ENV, n_agents=2)
    learner = NoRegretLearner(env, make_rule("EXP3", horizon=50, arms=8), seed=0)
    before = learner.rule.state_dict()
    result = evaluate(learner, ENV, seed=0, episodes=1, env_kwargs={"n_agents": 2},
                      max_rounds=10)
    assert result["rounds"] == 10
    after = learner.rule.state_dict()
    assert after["rng"] == before["rng"]
    np.testing.assert_array_equal(after["log_weights"], before["log_weights"])


def test_transitions_pass_terminations_and_truncations_through():
    seen = []

    class Recorder(NoRegretLearner):
        def observe(self, transition):
            seen.append((dict(transition.terminations), dict(transition.truncations)))
            super().observe(transition)

    train(lambda env: Recorder(env, make_rule("BR")),
          RunConfig(ENV, rounds=4, env_kwargs={"n_agents": 2, "max_cycles": 2}, progress=False))
    assert [any(t.values()) for _, t in seen] == [False, True, False, True]
    assert not any(any(term.values()) for term, _ in seen)


def test_command_line_with_tensorboard(tmp_path, capsys):
    main(["--learner", "BR", "--rounds", "20", "--env-kwargs", '{"n_agents": 2}',
          "--log-dir", str(tmp_path), "--eval-episodes", "1", "--eval-rounds", "3"])
    out = json.loads(capsys.readouterr().out)
    assert out["rounds"] == 20 and out["last"]["env/residual"] < 1e-5
    assert (tmp_path / "progress.csv").exists()
    assert (tmp_path / "tensorboard").exists()
