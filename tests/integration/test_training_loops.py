"""Registered envs plug into existing training loops: SuperSuit + Stable-Baselines3."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs

pytest.importorskip("supersuit", reason="the learners extra is not installed")
sb3 = pytest.importorskip("stable_baselines3", reason="the learners extra is not installed")

from auction_envs.wrappers.sb3 import sb3_vec_env  # noqa: E402


def train(seed: int) -> np.ndarray:
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=3, max_cycles=32)
    vec_env = sb3_vec_env(env, num_copies=2)
    model = sb3.PPO("MlpPolicy", vec_env, n_steps=32, batch_size=64, n_epochs=1, seed=seed,
                    device="cpu")
    model.learn(total_timesteps=384)
    observations = vec_env.reset(seed=seed)
    actions, _ = model.predict(observations, deterministic=True)
    vec_env.close()
    return actions


def test_kelly_trains_with_sb3_ppo_through_supersuit_reproducibly():
    actions = train(seed=0)
    assert actions.shape == (6, 1)  # 2 copies x 3 bidders
    np.testing.assert_array_equal(actions, train(seed=0))  # seeding reaches env and policy
