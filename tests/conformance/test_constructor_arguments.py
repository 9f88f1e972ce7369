"""Constructor arguments of every registered id (issue 19): the cases the audit named, the gaps the
generic check (``conformance.check_constructor_arguments``) found, and the check's own parts.

Every case here failed before the fixes of issue 19 (a hang, a ``MemoryError``, an
``OverflowError``, an inf observation, or an error that did not name the argument).
"""

from __future__ import annotations

import functools
import threading
import time
import warnings

import numpy as np
import pytest

import auction_envs
from auction_envs.core.checks import MAX_AGENTS, MAX_SCALE, check_int, check_real
from auction_envs.core.errors import InvalidArgumentError
from auction_envs.testing import conformance

IDS = auction_envs.list_envs()
JUNCTION_IDS = [i for i in IDS if "Intersection" in i]
CES_IDS = [i for i in IDS if i.startswith("auction_envs/ExchangeEconomy") and "Amdahl" not in i]
AMDAHL_IDS = [i for i in IDS if "Amdahl" in i]
KELLY_IDS = [i for i in IDS if "Kelly" in i]


def rejects(env_id: str, argument: str, value) -> InvalidArgumentError:
    """``make(env_id, argument=value)`` raises an InvalidArgumentError naming ``argument``."""
    with pytest.raises(InvalidArgumentError) as error:
        auction_envs.make(env_id, **{argument: value})
    assert error.value.name == argument or f"'{argument}'" in str(error.value), str(error.value)
    return error.value


def play(env, steps: int, seed: int = 0) -> None:
    """Reset and ``steps`` random rounds; every observation and reward finite."""
    rng = np.random.default_rng(seed)
    observations, _ = env.reset(seed=seed)
    for _ in range(steps):
        if not env.agents:
            observations, _ = env.reset()
        actions = {a: conformance.sample_action(env.action_space(a), rng) for a in env.agents}
        observations, rewards, *_ = env.step(actions)
        assert all(np.all(np.isfinite(o)) for o in observations.values())
        assert all(np.isfinite(r) for r in rewards.values())


# ---------------------------------------------------------------------------- the audit's cases
@pytest.mark.parametrize("env_id", [i for i in IDS if "V2X" in i])
def test_v2x_far_backoff_threshold_does_not_hang(env_id):
    env = auction_envs.make(env_id, backoff_threshold=(1.5, 0.1))
    start = time.perf_counter()
    conformance._within(30.0, lambda: play(env, 60))
    assert time.perf_counter() - start < 30.0


@pytest.mark.parametrize("env_id", JUNCTION_IDS)
@pytest.mark.parametrize("argument, value", [("remote_latency", -3), ("info_delay", -1),
                                             ("info_delay_std", -1.0), ("edge_share", 1.5),
                                             ("remote_latency", 2**63)])
def test_junction_ids_check_the_site_arguments(env_id, argument, value):
    rejects(env_id, argument, value)


@pytest.mark.parametrize("env_id", JUNCTION_IDS)
@pytest.mark.parametrize("argument", ["slot_size", "edge_speed"])
def test_junction_ids_reject_the_synthetic_sites_arguments(env_id, argument):
    error = rejects(env_id, argument, 0.27)  # valid for V2XOffloading-v1, ignored here before
    assert "amount" in str(error)


@pytest.mark.parametrize("env_id", CES_IDS)
def test_ces_ids_reject_amdahls_F(env_id):
    rejects(env_id, "F", 0.5)


@pytest.mark.parametrize("env_id", AMDAHL_IDS)
def test_amdahl_ids_reject_the_ces_rho(env_id):
    rejects(env_id, "rho", 0.5)


@pytest.mark.parametrize("value", ["no", 1, None])
def test_reveal_preferences_is_a_boolean(value):
    rejects("auction_envs/ExchangeEconomy-v0", "reveal_preferences", value)


@pytest.mark.parametrize("env_id", KELLY_IDS)
@pytest.mark.parametrize("a", [-1.0, 0.0, 1e300])
def test_kelly_rejects_a_non_positive_or_huge_a(env_id, a):
    rejects(env_id, "a", a)


@pytest.mark.parametrize("env_id", KELLY_IDS)
def test_kelly_alpha_20_is_rejected_not_inf(env_id):
    error = rejects(env_id, "alpha", 20.0)
    assert "float32" in str(error)


@pytest.mark.parametrize("env_id", [i for i in IDS if "IoV" in i])
def test_iov_degenerate_xi_range_is_rejected(env_id):
    rejects(env_id, "xi_range", (0.0, 0.0))


# ---------------------------------------------------------------------------- found by the check
GAPS = [  # (id, argument, value): each was accepted and failed later, or raised without its name
    ("auction_envs/KellyGame-v0", "n_agents", 10**18),         # MemoryError
    ("auction_envs/KellyGame-v0", "delta", 1e300),             # inf observations
    ("auction_envs/KellyGame-v0", "eps", 1e300),               # error named 'c'
    ("auction_envs/CloudDoubleAuction-v1", "trace_path", True),  # raw TypeError
    ("auction_envs/CloudDoubleAuction-v1", "providers", "bad"),  # raw ValueError
    ("auction_envs/CloudDoubleAuction-v1", "max_buyers", 10**18),  # MemoryError
    ("auction_envs/CloudDoubleAuction-v1", "step_seconds", 5e-324),  # ValueError: high <= 0
    ("auction_envs/CloudDoubleAuction-v1", "sigma", 10**400),  # OverflowError
    ("auction_envs/ExchangeEconomy-v0", "n_agents", 10**18),   # hang (list of 10^18 names)
    ("auction_envs/ExchangeEconomy-v0", "theta", "bad"),       # raw ValueError
    ("auction_envs/ExchangeEconomy-v0", "endowments", "bad"),  # raw ValueError
    ("auction_envs/ExchangeEconomy-v0", "noise_std", 1e300),   # inf observations
    ("auction_envs/ExchangeEconomy-v0", "theta_range", (0.1, 1e300)),  # CE solver failure
    ("auction_envs/IoVSlicing-v1", "n_vsps", 10**18),          # hang
    ("auction_envs/IoVSlicing-v1", "beta_range", (100.0, 1e300)),  # inf observations
    ("auction_envs/IoVSlicing-v1", "noise_std", 1e300),        # inf observations
    ("auction_envs/IoVSlicingNVI-v1", "colluders", (0, np.inf)),  # OverflowError
    ("auction_envs/IoVSlicingNVI-v1", "colluders", (0, True)),  # silently VSP 1
    ("auction_envs/IoVSlicingNVI-v1", "colluders", [1.5]),     # silently VSP 1
    ("auction_envs/V2XOffloading-v1", "utility_weight", 1e300),  # inf observations
    ("auction_envs/V2XOffloading-v1", "obs_requests", 10**18),  # hang
    ("auction_envs/V2XOffloading-v1", "capacity", 5e-324),     # NaN observations
    ("auction_envs/V2XOffloadingIntersection-v1", "warmup", 1e300),  # endless warm-up
    ("auction_envs/V2XOffloadingIntersection-v1", "step_ms", 1e-300),  # endless warm-up
    ("auction_envs/V2XOffloadingIntersection-v1", "arrival_interval", 1e-300),  # endless loop
    ("auction_envs/V2XOffloadingIntersection-v1", "min_uplink_mbps", 1e300),  # inf observations
    ("auction_envs/V2XOffloadingIntersection-v1", "green", ("a", 3.0)),  # raw TypeError
]


@pytest.mark.parametrize("env_id, argument, value", GAPS,
                         ids=[f"{i.split('/')[1]}-{a}={v!r}" for i, a, v in GAPS])
def test_gap_found_by_the_generic_check_is_rejected(env_id, argument, value):
    def build() -> None:  # a hang fails after 10 s instead of stalling the suite
        auction_envs.make(env_id, **{argument: value})

    with pytest.raises(InvalidArgumentError) as error:
        conformance._within(10.0, build)
    assert error.value.name == argument or argument in str(error.value), str(error.value)


def test_kelly_per_agent_a_with_the_variants_gamma_names_a():
    with pytest.raises(InvalidArgumentError) as error:  # the error was about 'gamma' only
        auction_envs.make("auction_envs/KellyGameHeterogeneous-v0", a=(1.0, 2.0, 3.0))
    assert "'a'" in str(error.value)


@pytest.mark.parametrize("env_id, kwargs", [
    ("auction_envs/KellyGame-v0", {"a": MAX_SCALE, "c": MAX_SCALE, "delta": MAX_SCALE}),
    ("auction_envs/KellyGame-v0", {"alpha": 1e-300}),  # optimal_welfare was NaN (100^(1/alpha))
    ("auction_envs/IoVSlicing-v1", {"beta_range": (1.0, MAX_SCALE), "noise_std": MAX_SCALE}),
    ("auction_envs/ExchangeEconomy-v0", {"theta_range": (1e-9, MAX_SCALE),
                                         "noise_std": MAX_SCALE}),
    ("auction_envs/V2XOffloading-v1", {"capacity": 1e-9, "utility_weight": MAX_SCALE}),
    ("auction_envs/V2XOffloadingIntersection-v1", {"min_uplink_mbps": MAX_SCALE}),
])
def test_the_documented_limits_themselves_work(env_id, kwargs):
    env = auction_envs.make(env_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        play(env, 4)
        metrics = env.unwrapped.metrics()
    for key in ("optimal_welfare", "price_of_anarchy"):
        if key in metrics:
            assert np.isfinite(metrics[key]), (key, metrics[key])


# ---------------------------------------------------------------------------- the shared checks
def test_check_int_rejects_beyond_int64_and_check_real_huge_ints():
    with pytest.raises(InvalidArgumentError, match="'k'"):
        check_int("k", 2**63, low=0)
    with pytest.raises(InvalidArgumentError, match="'x'"):
        check_real("x", 10**400)
    assert check_int("k", MAX_AGENTS, low=1, high=MAX_AGENTS) == MAX_AGENTS


# ---------------------------------------------------------------------------- the check's parts
def test_documented_arguments_follow_kwargs_to_the_parent():
    arguments = conformance.documented_arguments(
        functools.partial(auction_envs.make, "auction_envs/V2XOffloadingIntersectionTest-v1"))
    assert arguments["green"] == 20.0 and arguments["capacity"] == 20.0  # the variant's values
    assert arguments["backoff_threshold"] == (0.6, 0.3)  # V2XOffloadingEnv's, through **kwargs
    assert arguments["warmup"] == 60.0  # the signature's default


def test_bad_values_cover_the_kinds_of_the_brief():
    pair = conformance.bad_argument_values((0.6, 0.3))
    assert (0.3, 0.6) in pair and (0.0, 0.0) in pair and any(len(v) == 3 for v in pair
                                                               if isinstance(v, tuple))
    real = conformance.bad_argument_values(2.0)
    assert {"3.0", True, -1.0, 0.0, 1e300, np.inf, -np.inf} <= set(real)
    assert any(isinstance(v, float) and np.isnan(v) for v in real)
    assert 10**18 in conformance.bad_argument_values(3)
    assert len(conformance.bad_argument_values(2.0, extended=True)) > len(real)


def test_time_bound_interrupts_an_endless_loop():
    def endless():
        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(conformance._TimeLimitExceeded):
        conformance._within(0.3, endless)
    assert time.perf_counter() - start < 5.0


def test_time_bound_outside_the_main_thread_uses_a_watchdog_thread():
    stop = threading.Event()
    outcome = {}

    def slow():
        while not stop.is_set():
            time.sleep(0.01)

    def run():
        try:
            conformance._within(0.3, slow)
        except conformance._TimeLimitExceeded as error:
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(5.0)
    stop.set()
    assert "error" in outcome
