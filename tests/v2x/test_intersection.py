"""The realistic junction variant: radio, mobility, the slot pool, periodic requests, and SUMO."""

from __future__ import annotations

import math

import numpy as np
import pytest

import auction_envs
from agents.baselines import PassiveV2XPolicy
from auction_envs.envs.v2x import V2XIntersectionEnv
from auction_envs.envs.v2x.mobility import JunctionMobility, sumo_available, uplink_throughput
from auction_envs.envs.v2x.requests import TRANSIT

INTERSECTION = ["auction_envs/V2XOffloadingIntersection-v1",
                "auction_envs/V2XOffloadingIntersectionTest-v1"]


# The registered junction variants go through the whole conformance suite in
# tests/conformance/test_registry_conformance.py.
def test_variants_are_registered() -> None:
    for env_id in INTERSECTION:
        assert env_id in auction_envs.list_envs()
    env = auction_envs.make(INTERSECTION[1])
    assert (env.capacity, env.mobility.speed_kmh, env.mobility.arrival_interval) == (20.0, 30.0, 1.0)


def test_uplink_throughput_is_the_papers_fit() -> None:
    assert uplink_throughput(np.array([0.0, 30.0, 60.0])).tolist() == [1690.0, 910.0, 130.0]
    assert uplink_throughput(65.0) == 10.0  # the fit reaches 0 at the radius: floored


def test_vehicles_stop_on_red_and_cross_on_green() -> None:
    rng = np.random.default_rng(0)
    mobility = JunctionMobility(n_slots=40, speed_kmh=36.0, arrival_interval=1.0, green=1e6, dt=0.1)
    mobility.reset(rng)  # north-south green for the whole run
    for _ in range(600):
        mobility.step(rng)
    ew = mobility.present & (mobility.approach % 2 == 1)
    ns = mobility.present & (mobility.approach % 2 == 0)
    assert ew.any() and np.all(mobility.s[ew] <= 65.0 - 10.0 + 1e-9)  # held at the stop line
    # queued east-west vehicles keep their gap within each lane
    for approach in (1, 3):
        for lane in (0, 1):
            s = np.sort(mobility.s[ew & (mobility.approach == approach) & (mobility.lane == lane)])
            assert np.all(np.diff(s) >= 7.5 - 1e-9)
    # north-south traffic flows: 130 m at 10 m/s take 13 s, so vehicles left the junction
    assert not ns.all() and mobility.present.sum() < 40


def test_slot_pool_presence_and_needs_action() -> None:
    env = V2XIntersectionEnv(max_cycles=400)
    observations, infos = env.reset(seed=1)
    assert 0 < env.present.sum() < env.n_vehicles  # warm-up populated the junction
    policy = PassiveV2XPolicy()
    for _ in range(200):
        fields = env.layout.unpack(np.stack([observations[a] for a in env.possible_agents]))
        assert np.array_equal(fields["present"], env.present.astype(float))
        absent = ~env.present
        assert np.all(fields["needs_action"][absent] == 0.0)
        assert np.allclose(fields["distance"][absent], env.radius)
        assert np.all((fields["distance"] >= 0.0) & (fields["distance"] <= env.radius + 1e-4))
        observations, _, _, _, infos = env.step(policy.act(observations))
    assert all("present" in info and "entered" in info for info in infos.values())
    m = env.metrics()
    assert m["vehicles_present"]["min"] >= 1 and m["vehicles_present"]["max"] <= 30


def test_periodic_requests_of_a_present_vehicle() -> None:
    env = V2XIntersectionEnv(max_cycles=400, warmup=0.0)
    env.reset(seed=0)
    env.present[:] = False
    env.present[3] = True
    counts = {0: 0, 1: 0}
    for now in range(1, 101):
        columns = env.population.new_requests(now, env.np_random)
        assert set(columns["vehicle"].tolist()) <= {3}
        for stype in columns["stype"].tolist():
            counts[stype] += 1
    assert counts == {0: 10, 1: 2}  # F1 every 100 ms, F2 every 500 ms (10 ms steps)
    assert env.relative_deadlines.tolist() == [10, 50]


def test_transfer_latency_hand_computed() -> None:
    env = V2XIntersectionEnv(max_cycles=50, warmup=0.0)
    env.reset(seed=0, options={"arrivals": [(0, 0, "F2", 50)]})
    env.present[0] = True
    env.mobility.present[0] = True
    env.mobility.s[0] = 65.0 - 30.0  # 30 m before the centre, lane 0 (0.875 m offset)
    env.mobility.lane[0] = 0
    distance = math.hypot(30.0, 0.875)
    rate = -26 * distance + 1690  # Mbps, alone on the uplink
    R = env.requests
    R.state[0] = TRANSIT  # as the ACA does right before computing the transfer
    site_latency = env.core.site_latency[np.array([1])]
    up, down = env.population.transfer_latency(np.array([0]), R.data_up[[0]], R.data_down[[0]],
                                               site_latency, sharing=1)
    # F2: 4 Mbit up, 0.4 Mbit down; 10 ms steps; remote site 1 step away each way
    assert up[0] == math.ceil(4.0 / rate / 0.01) + 1
    assert down[0] == math.ceil(0.4 / rate / 0.01) + 1


def test_departing_vehicle_drops_its_pending_requests() -> None:
    env = V2XIntersectionEnv(max_cycles=2000)
    env.reset(seed=2)
    policy = PassiveV2XPolicy(price=750.0)
    observations = env._observations()
    while env.agents:
        # everyone backs off as long as possible: requests pile up and some vehicles leave
        actions = {a: np.array([0.0, 0.5], dtype=np.float32) for a in env.agents}
        observations, *_ = env.step(actions)
    m = env.metrics()
    assert m["left_coverage"] > 0
    assert m["ofr_dropped_on_hold"] > 0
    del policy, observations


@pytest.mark.skipif(not sumo_available()[0], reason=f"SUMO mode unavailable: {sumo_available()[1]}")
def test_sumo_mobility_drives_the_same_junction() -> None:
    results = []
    for _ in range(2):
        env = auction_envs.make("auction_envs/V2XOffloadingIntersection-v1", mobility="sumo",
                                max_cycles=600, warmup=30.0)
        policy = PassiveV2XPolicy()
        observations, _ = env.reset(seed=5)
        assert env.present.sum() > 0
        distances = env.unwrapped.mobility.distance()[env.present]
        assert np.all(distances <= 75.0)  # within the 65 m arms (plus the junction's own size)
        while env.agents:
            observations, *_ = env.step(policy.act(observations))
        m = env.metrics()
        env.close()
        assert m["requests"] > 0 and m["vehicles_present"]["max"] <= 30
        results.append((m["requests"], m["finished"], m["ofr"]))
    assert results[0] == results[1]  # same seed, same trajectory
