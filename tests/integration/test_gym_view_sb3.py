"""The Stable-Baselines3 one-liner on the Gymnasium view, and the generic ``rgb_array`` render."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs
from auction_envs.envs.exchange.variants import GYM_ID

pytest.importorskip("stable_baselines3")


def _ppo_parameters(seed: int) -> list[np.ndarray]:
    from stable_baselines3 import PPO

    # SB3 builds the env itself with gym.make(id, render_mode="rgb_array")
    model = PPO("MlpPolicy", GYM_ID, n_steps=32, batch_size=16, n_epochs=1, seed=seed, device="cpu")
    model.learn(64)
    frame = model.env.render()
    assert frame is not None and frame.dtype == np.uint8 and frame.ndim == 3
    return [p.detach().numpy().copy() for p in model.policy.parameters()]


def test_sb3_one_liner_trains_on_the_gym_view_and_is_reproducible() -> None:
    first, again = _ppo_parameters(0), _ppo_parameters(0)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_every_market_accepts_rgb_array() -> None:
    for env_id in auction_envs.list_envs():
        assert "rgb_array" in auction_envs.make(env_id).metadata["render_modes"], env_id


def test_default_frame_is_a_bar_chart_of_the_last_rewards() -> None:
    env = auction_envs.make("auction_envs/KellyGame-v0", n_agents=3, gamma=40.0,
                            render_mode="rgb_array")
    env.reset(seed=0)
    blank = env.render()
    assert blank.shape == (240, 240, 3) and not (blank == (46, 139, 87)).all(axis=2).any()
    _, rewards, *_ = env.step({"bidder_0": np.array([1.0]), "bidder_1": np.array([400.0]),
                               "bidder_2": np.array([50.0])})
    frame = env.render()
    green = (frame == (46, 139, 87)).all(axis=2).sum(axis=0)
    red = (frame == (200, 60, 60)).all(axis=2).sum(axis=0)
    heights = [int(max(green[4 + 16 * i], red[4 + 16 * i])) for i in range(3)]
    signs = [1 if green[4 + 16 * i] else -1 for i in range(3)]
    values = np.array([rewards[f"bidder_{i}"] for i in range(3)])
    assert signs == [1 if v > 0 else -1 for v in values]
    # the largest |reward| fills the half-height (116 px); the others in proportion
    expected = np.rint(np.abs(values) / np.abs(values).max() * 116).astype(int)
    assert heights == expected.tolist()
