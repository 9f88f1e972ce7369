"""The V2X env as a whole: conformance, metrics, rendering, arguments and the passive calibration."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import auction_envs
from agents.baselines import PassiveV2XPolicy
from auction_envs.core import InvalidArgumentError
from auction_envs.envs.v2x import V2XOffloadingEnv
from auction_envs.testing.conformance import ALL_CHECKS


# The conformance suite runs on every registered id (the V2X ones included) in
# tests/conformance/test_registry_conformance.py; here, the non-default constructor choices.
@pytest.mark.parametrize("check_name", ["parallel_api", "deterministic", "malformed_actions",
                                        "observations_in_space"])
def test_conformance_of_other_choices(check_name: str) -> None:
    env_fn = functools.partial(V2XOffloadingEnv, capacity=40.0, max_rebids=5, tie_break="fifo",
                               type_order="fixed", budget_mode="per_request", failure_penalty=0.5,
                               max_cycles=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ALL_CHECKS[check_name](env_fn)


def run_passive(env: V2XOffloadingEnv, seed: int = 0) -> dict:
    policy = PassiveV2XPolicy()
    observations, _ = env.reset(seed=seed)
    while env.agents:
        observations, *_ = env.step(policy.act(observations))
    return env.metrics()


def test_variants_and_arguments() -> None:
    env = auction_envs.make("auction_envs/V2XOffloading-v1")
    assert (env.n_vehicles, env.capacity, env.max_rebids, env.max_cycles) == (30, 100.0, 1, 8000)
    env = auction_envs.make("auction_envs/V2XOffloadingHighContention-v1", max_rebids=5)
    assert (env.capacity, env.max_rebids) == (60.0, 5)
    assert env.observation_space("vehicle_0").shape == (env.layout.size,)
    assert env.observation_space("vehicle_0") == env.layout.space()
    assert env.action_space("vehicle_0").shape == (2,)


@pytest.mark.parametrize(
    "kwargs",
    [{"capacity": 0}, {"max_rebids": -1}, {"n_vehicles": 0}, {"budget_mode": "x"},
     {"type_order": "x"}, {"tie_break": "x"}, {"edge_share": 1.0}, {"slot_size": -1},
     {"duration_noise_std": -0.1}, {"backoff_threshold": (0.6, -1)}, {"sites": (1, 2)}],
)
def test_bad_arguments_fail_at_construction(kwargs: dict) -> None:
    with pytest.raises(InvalidArgumentError):
        V2XOffloadingEnv(**kwargs)


def test_bad_reset_options() -> None:
    env = V2XOffloadingEnv(n_vehicles=2)
    with pytest.raises(InvalidArgumentError):
        env.reset(options={"budgets": [1.0]})
    with pytest.raises(InvalidArgumentError):
        env.reset(options={"arrivals": [(0, 5, "F1", 50)]})


def test_metrics_are_consistent() -> None:
    env = V2XOffloadingEnv(capacity=60.0, max_cycles=600)
    m = run_passive(env)
    assert m["ofr"] == pytest.approx(m["ofr_rejected"] + m["ofr_dropped_on_hold"]
                                     + m["ofr_deadline_miss"])
    assert m["ofr_dropped_on_hold"] == 0.0  # passive vehicles never hold
    assert 0 < m["finished"] <= m["requests"]
    assert m["vehicle_ofr"].shape == (30,)
    assert set(m["utilization"]) == {"edge", "remote"} == set(m["utilization_std"])
    assert all(0 <= u <= 1 for u in m["utilization"].values())
    finished = m["vehicle_ofr"] * 0 + 1  # every vehicle finished requests in 600 steps
    assert finished.sum() == 30
    assert 0 < m["rebidding_overhead"] <= 1  # rebids per request, at most MP = 1
    assert m["backoff_by_budget"] == {"high": 0.0, "low": 0.0}
    # 750 each, except when a burst of simultaneous requests exhausts the per-step budget
    assert 600 < m["price_by_budget"]["low"] < m["price_by_budget"]["high"] <= 750.0 + 1e-3


def test_render_modes() -> None:
    env = V2XOffloadingEnv(max_cycles=50, render_mode="rgb_array")
    run_passive(env)
    image = env.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] > 100 and image.shape[1] > 100
    env = V2XOffloadingEnv(max_cycles=5, render_mode="ansi")
    run_passive(env)
    assert "OFR" in env.render()


def test_needs_action_matches_pending_decisions_and_actions_are_ignored_otherwise() -> None:
    env = V2XOffloadingEnv(max_cycles=200)
    observations, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(100):
        layout = env.layout
        for agent, observation in observations.items():
            i = int(agent.split("_")[1])
            pending = round(float(layout.get(observation, "n_deciding")))
            assert layout.get(observation, "needs_action") == float(pending > 0)
            assert (env.requests.vehicle[env.requests.state == 0] == i).sum() == pending
        actions = {a: rng.random(2).astype(np.float32) for a in env.agents}
        observations, *_ = env.step(actions)


@pytest.mark.slow
@pytest.mark.parametrize(("capacity", "low", "high"), [(60.0, 0.15, 0.25), (230.0, 0.01, 0.03)])
def test_passive_calibration(capacity: float, low: float, high: float) -> None:
    """The paper's RIAL curve: passive OFR about 20% at capacity 60, about 2% at high capacity."""
    m = run_passive(V2XOffloadingEnv(capacity=capacity, max_rebids=1, max_cycles=3000), seed=0)
    assert low <= m["ofr"] <= high, m["ofr"]


def test_clip_policy_clips_and_raise_policy_raises() -> None:
    from auction_envs.core import InvalidActionError

    bad = {f"vehicle_{i}": np.array([1.5, -0.2]) for i in range(2)}
    env = V2XOffloadingEnv(n_vehicles=2, max_cycles=5, action_policy="clip")
    env.reset(seed=0)
    assert np.array_equal(env.validate_actions(bad)["vehicle_0"], [1.0, 0.0])
    env = V2XOffloadingEnv(n_vehicles=2, max_cycles=5)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="vehicle_0"):
        env.step(bad)


def test_docstring_shows_the_layout_and_the_layout_packs_what_the_env_emits() -> None:
    env = V2XOffloadingEnv(max_cycles=20)
    assert env.frame_layout.table() in V2XOffloadingEnv.__doc__.replace("\n    ", "\n")
    assert "needs_action" in env.layout and env.layout.size == 75
    observations, _ = env.reset(seed=0)
    for _ in range(10):
        observations, *_ = env.step({a: np.array([1.0, 0.3], dtype=np.float32) for a in env.agents})
    fields = env.layout.unpack(np.stack(list(observations.values())))
    assert np.allclose(fields["budget"], env.budget)
    assert np.array_equal(fields["needs_action"] > 0, env.core.needs_action())
    repacked = env.layout.pack(fields, batch_shape=(env.n_vehicles,))
    assert np.allclose(repacked, np.stack(list(observations.values())), atol=1e-6)


def test_state_and_metrics_need_a_reset() -> None:
    from auction_envs.core import ResetNeededError

    env = V2XOffloadingEnv(max_cycles=5)
    with pytest.raises(ResetNeededError):
        env.state()
    with pytest.raises(ResetNeededError):
        env.metrics()
