"""Crash-safe runs (issue 19): append-only logs, resume after a kill without duplicates or losses,
atomic metadata, and checkpoint errors that name the file and the problem."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agents.base import (
    CheckpointError,
    check_state_like,
    load_state,
    restore_rng,
    rng_state,
    save_state,
)
from agents.logging import ProgressLog, export_csv, read_progress
from agents.no_regret import NoRegretLearner, make_rule
from agents.runner import RunConfig, read_runner_state, train

ENV = "auction_envs/KellyGame-v0"
ROOT = Path(__file__).resolve().parents[2]


def _factory(rule="DAQ_V", seed=0):
    return lambda env: NoRegretLearner(env, make_rule(rule, horizon=100), seed=seed)


def _config(log_dir, rounds, **kwargs):
    return RunConfig(ENV, rounds=rounds, env_kwargs={"n_agents": 3, "max_cycles": 20},
                     log_dir=str(log_dir), tensorboard=False, progress=False, **kwargs)


class Interrupt(Exception):
    pass


def _interrupting(after_rounds):
    """A factory whose learner raises (a crash) once it has observed ``after_rounds`` rounds."""
    def factory(env):
        learner = _factory()(env)
        original = learner.observe
        count = {"n": 0}

        def observe(transition):
            count["n"] += 1
            if count["n"] > after_rounds:
                raise Interrupt
            original(transition)

        learner.observe = observe
        return learner
    return factory


# ---------------------------------------------------------------------------- progress log
def test_progress_log_is_append_only_when_columns_appear(tmp_path):
    log = ProgressLog(tmp_path / "p.jsonl")
    log.log(1, {"a": 1.0})
    before = (tmp_path / "p.jsonl").read_bytes()
    log.log(2, {"a": 2.0, "new_column": 3.0})
    log.close()
    after = (tmp_path / "p.jsonl").read_bytes()
    assert after.startswith(before)  # nothing rewritten in place
    assert read_progress(tmp_path / "p.jsonl") == [{"step": 1, "a": 1.0},
                                                   {"step": 2, "a": 2.0, "new_column": 3.0}]
    assert not hasattr(log, "rows")  # rows stream to disk, none kept in memory


def test_torn_last_row_is_skipped_and_sealed(tmp_path):
    path = tmp_path / "p.jsonl"
    log = ProgressLog(path)
    log.log(1, {"a": 1.0})
    log.close()
    with path.open("ab") as handle:
        handle.write(b'{"step": 2, "a"')  # killed mid-write
    assert read_progress(path) == [{"step": 1, "a": 1.0}]
    log = ProgressLog(path, resume_from=1)
    log.log(2, {"a": 5.0})
    log.close()
    assert read_progress(path) == [{"step": 1, "a": 1.0}, {"step": 2, "a": 5.0}]


def test_non_finite_values_round_trip(tmp_path):
    log = ProgressLog(tmp_path / "p.jsonl")
    log.log(1, {"a": float("nan"), "b": float("inf")})
    log.close()
    row = read_progress(tmp_path / "p.jsonl")[0]
    assert np.isnan(row["a"]) and row["b"] == np.inf


def test_csv_export_has_the_union_of_columns(tmp_path):
    log = ProgressLog(tmp_path / "p.jsonl")
    log.log(1, {"a": 1.0})
    log.log(2, {"b": 2.0})
    log.close()
    text = export_csv(tmp_path / "p.jsonl", tmp_path / "p.csv").read_text().splitlines()
    assert text == ["step,a,b", "1,1.0,", "2,,2.0"]


# ---------------------------------------------------------------------------- runner resume
def test_crash_then_resume_loses_and_duplicates_nothing(tmp_path):
    whole = train(_factory(), _config(tmp_path / "whole", 100, checkpoint_every=20))
    with pytest.raises(Interrupt):
        train(_interrupting(53), _config(tmp_path / "split", 100, checkpoint_every=20))
    assert read_runner_state(tmp_path / "split")["rounds"] == 40
    resumed = train(_factory(seed=99), _config(tmp_path / "split", 100, checkpoint_every=20),
                    resume=True)
    whole_rows = read_progress(tmp_path / "whole" / "progress.jsonl")
    split_rows = read_progress(tmp_path / "split" / "progress.jsonl")
    assert [r["step"] for r in split_rows if "reward" in r] == list(range(1, 101))
    assert split_rows == whole_rows
    np.testing.assert_array_equal(resumed["learner"].rule.bids(), whole["learner"].rule.bids())
    assert len(list((tmp_path / "split").glob("checkpoint-*.npz"))) == 1


def test_fresh_run_refuses_a_folder_holding_a_run(tmp_path):
    train(_factory(), _config(tmp_path, 5))
    before = (tmp_path / "progress.jsonl").read_bytes()
    with pytest.raises(FileExistsError, match="resume=True"):
        train(_factory(), _config(tmp_path, 5))
    assert (tmp_path / "progress.jsonl").read_bytes() == before


def test_failed_runner_state_write_keeps_the_previous_one(tmp_path, monkeypatch):
    train(_factory(), _config(tmp_path, 20))
    before = (tmp_path / "runner.json").read_text()
    import agents.runner as runner

    def failing_replace(src, dst):
        raise OSError("disk full")

    with pytest.raises(Interrupt):
        train(_interrupting(5), _config(tmp_path, 40), resume=True)
    monkeypatch.setattr(runner.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        train(_factory(), _config(tmp_path, 40, checkpoint_every=5), resume=True)
    assert (tmp_path / "runner.json").read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_damaged_runner_state_names_the_file(tmp_path):
    (tmp_path / "runner.json").write_text('{"rounds": 3')
    with pytest.raises(CheckpointError, match=r"runner\.json"):
        train(_factory(), _config(tmp_path, 5), resume=True)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_the_uninterrupted_run(tmp_path):
    """A real ``kill -9`` of ``python -m agents.runner`` at an arbitrary moment."""
    args = [sys.executable, "-m", "agents.runner", "--learner", "DAQ_V", "--rounds", "20000",
            "--env-kwargs", '{"n_agents": 3, "max_cycles": 2000}', "--checkpoint-every", "2000",
            "--no-tensorboard"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([*args, "--log-dir", str(tmp_path / "whole")], check=True, env=env,
                   capture_output=True, cwd=ROOT)
    killed = subprocess.Popen([*args, "--log-dir", str(tmp_path / "split")], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    log = tmp_path / "split" / "progress.jsonl"
    while time.monotonic() < deadline:  # kill once past the second checkpoint
        if log.exists() and log.stat().st_size > 0 and len(log.read_bytes().splitlines()) > 3000:
            break
        time.sleep(0.02)
    assert killed.poll() is None, "the run finished before it could be killed"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    subprocess.run([*args, "--log-dir", str(tmp_path / "split"), "--resume"], check=True, env=env,
                   capture_output=True, cwd=ROOT)
    whole = read_progress(tmp_path / "whole" / "progress.jsonl")
    split = read_progress(tmp_path / "split" / "progress.jsonl")
    assert [row["step"] for row in split if "reward" in row] == list(range(1, 20001))
    assert split == whole


# ---------------------------------------------------------------------------- checkpoints
def _state():
    return {"weights": np.arange(6.0).reshape(2, 3), "count": 3, "rng": rng_state(np.random.default_rng(1)),
            "nested": {"bias": np.zeros(2)}}


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "foreign_npz", "bad_meta"])
def test_damaged_checkpoints_raise_a_clear_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "ck.npz"
    save_state(path, _state())
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "garbage":
        path.write_bytes(os.urandom(500))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "foreign_npz":
        with path.open("wb") as handle:
            np.savez(handle, x=np.zeros(3))
    elif damage == "bad_meta":
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("__meta__.npy", b"not npy")
    with pytest.raises(CheckpointError) as error:
        load_state(path)
    assert str(path) in str(error.value)


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_state(tmp_path / "nope.npz")


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(weights=np.zeros((3, 3))), "shape"),
    (lambda s: s.update(weights=np.full((2, 3), np.nan)), "NaN"),
    (lambda s: s.update(weights=np.zeros((2, 3), dtype=np.int64)), "dtype"),
    (lambda s: s.pop("count"), "missing"),
    (lambda s: s.update(extra=1), "unexpected"),
])
def test_checkpoint_validated_against_the_learner(tmp_path, change, message):
    path = tmp_path / "ck.npz"
    state = _state()
    change(state)
    save_state(path, state)
    with pytest.raises(CheckpointError, match=message) as error:
        load_state(path, like=_state())
    assert str(path) in str(error.value)
    check_state_like(load_state(path), state)  # the same check passes against the saved state


def test_checkpoint_naming_a_foreign_generator_is_refused(tmp_path):
    state = _state()
    state["rng"]["bit_generator"] = "RandomState"
    save_state(tmp_path / "ck.npz", state)
    with pytest.raises(CheckpointError, match="allowed"):
        load_state(tmp_path / "ck.npz", like=_state())


def test_rng_restore_uses_an_allow_list():
    state = rng_state(np.random.default_rng(3))
    assert restore_rng(state).random() == np.random.default_rng(3).random()
    with pytest.raises(CheckpointError, match="allowed"):
        restore_rng({**state, "bit_generator": "SeedSequence"})


def test_failed_save_leaves_no_temporary_file_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    save_state(path, _state())
    before = path.read_bytes()

    def failing_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError):
        save_state(path, _state())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]


class _Counter:
    """A minimal per-agent learner (the AgentLearner protocol)."""

    def __init__(self, size):
        self.table = np.zeros(size)

    def state_dict(self):
        return {"table": self.table.copy()}

    def load_state_dict(self, state):
        self.table = state["table"].copy()


def test_independent_learners_validate_on_load(tmp_path):
    from agents.base import Independent

    learner = Independent({"a": _Counter(3), "b": _Counter(3)})
    learner.save(tmp_path / "ck.npz")
    Independent({"a": _Counter(4), "b": _Counter(3)}).save(tmp_path / "other.npz")
    with pytest.raises(CheckpointError, match="shape"):
        learner.load(tmp_path / "other.npz")
    np.testing.assert_array_equal(learner.learners["a"].table, np.zeros(3))  # unchanged
