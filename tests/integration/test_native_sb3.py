"""SB3 PPO trains through the native VecEnv adapter (no SuperSuit): a learning signal, seeded
reproducibility, and the same-step autoreset SB3 expects."""

from __future__ import annotations

import numpy as np
import pytest

sb3 = pytest.importorskip("stable_baselines3", reason="the learners extra is not installed")
torch = pytest.importorskip("torch")

from auction_envs.wrappers.sb3 import sb3_native_vec_env  # noqa: E402

KELLY = {"n_agents": 3, "max_cycles": 16}  # Nash equilibrium bid 66.6 for each bidder


def _train(seed: int, steps: int = 20_000) -> tuple[float, float, np.ndarray]:
    torch.set_num_threads(1)
    venv = sb3_native_vec_env("auction_envs/KellyGame-v0", num_envs=8, **KELLY)
    model = sb3.PPO("MlpPolicy", venv, n_steps=64, batch_size=256, n_epochs=4,
                    learning_rate=3e-3, gamma=0.0, seed=seed, device="cpu")
    before, _ = model.predict(venv.reset(), deterministic=True)
    model.learn(total_timesteps=steps)
    venv.seed(seed)
    after, _ = model.predict(venv.reset(), deterministic=True)
    bid = lambda actions: float(np.mean(venv._market_actions(actions)))  # noqa: E731
    return bid(before), bid(after), after


def test_ppo_bids_move_toward_the_equilibrium_and_runs_reproduce():
    before, after, actions = _train(seed=0)
    equilibrium = 200.0 / 3.0
    assert abs(after - equilibrium) < abs(before - equilibrium) - 30.0  # 201 -> about 138
    _, _, again = _train(seed=0)
    np.testing.assert_array_equal(actions, again)


def test_same_step_autoreset_reports_truncation():
    venv = sb3_native_vec_env("auction_envs/KellyGame-v0", num_envs=2, n_agents=2, max_cycles=2)
    first = venv.reset()
    venv.step(np.zeros((4, 1)))
    observations, _, dones, infos = venv.step(np.zeros((4, 1)))
    assert dones.all() and all(info["TimeLimit.truncated"] for info in infos)
    np.testing.assert_array_equal(observations, first)  # already reset, SB3 style
    assert not np.array_equal(infos[0]["terminal_observation"], first[0])
