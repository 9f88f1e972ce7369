"""The V2X step's fast paths compute exactly what their plain versions compute (bit for bit)."""

import numpy as np
import pytest

from auction_envs.envs.v2x import V2XIntersectionEnv, V2XOffloadingEnv
from auction_envs.envs.v2x import arrivals as arrivals_module
from auction_envs.envs.v2x import core as core_module
from auction_envs.envs.v2x import metrics as metrics_module
from auction_envs.envs.v2x import observations as observations_module
from auction_envs.envs.v2x.arrivals import MIX_PROBABILITY, MIX_TYPE, draw_services
from auction_envs.envs.v2x.decisions import batch_prices
from auction_envs.envs.v2x.requests import CLOSED, DECIDE, RUNNING, RequestTable
from auction_envs.mechanisms.second_price import second_price, second_price_ranking


def test_service_draws_are_generator_choice_and_its_stream() -> None:
    for seed in range(50):
        for count in (0, 1, 9, 40):
            ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
            index = theirs.choice(len(MIX_PROBABILITY), size=count, p=MIX_PROBABILITY)
            stype, _ = draw_services(count, ours)
            assert np.array_equal(stype, MIX_TYPE[index])
            assert ours.random() == theirs.random()  # the same draws were used up


def test_second_price_ranking_is_second_price() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        n = int(rng.integers(1, 9))
        bids = rng.choice([0.0, 100.0, 250.0, 700.0, 2000.0], size=n)  # many ties
        k = int(rng.integers(0, n + 2))
        for seed in (None, int(rng.integers(1 << 30))):
            gen_a = None if seed is None else np.random.default_rng(seed)
            gen_b = None if seed is None else np.random.default_rng(seed)
            won, paid = second_price(bids, k, gen_a)
            ranking, price = second_price_ranking(bids.tolist(), k, gen_b)
            expected = np.zeros(n, dtype=bool)
            expected[ranking[:k]] = True
            assert np.array_equal(won, expected)
            assert np.array_equal(paid, np.where(expected, price, 0.0))
            if seed is not None:
                assert gen_a.random() == gen_b.random()


def _array_batch_prices(vehicle, fraction, budget):
    """The per-step budget cap written with numpy (the rule ``batch_prices`` implements)."""
    raw = fraction[vehicle] * budget[vehicle]
    order = np.argsort(vehicle, kind="stable")
    sorted_vehicle, sorted_raw = vehicle[order], raw[order]
    spent_before = np.cumsum(sorted_raw) - sorted_raw
    start = np.flatnonzero(np.concatenate(([True], sorted_vehicle[1:] != sorted_vehicle[:-1])))
    offset = np.repeat(spent_before[start], np.diff(np.append(start, len(order))))
    capped = np.clip(np.minimum(sorted_raw, budget[sorted_vehicle] - (spent_before - offset)),
                     0, None)
    prices = np.empty_like(capped)
    prices[order] = capped
    return prices


def test_batch_prices_are_the_array_rule_bit_for_bit() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        n, m = int(rng.integers(1, 6)), int(rng.integers(1, 30))
        budget = rng.random(n) * 3000 + 1
        fraction = rng.random(n).astype(np.float32).astype(np.float64)
        fraction[rng.random(n) < 0.2] = 1.0
        vehicle = rng.integers(0, n, m)
        ours = batch_prices(vehicle, fraction, budget, "per_step")
        assert ours.tobytes() == _array_batch_prices(vehicle, fraction, budget).tobytes()
    # the cap: a vehicle's second bid gets what its first left of the budget
    assert batch_prices(np.array([0, 0]), np.array([0.7]), np.array([2000.0]),
                        "per_step").tolist() == pytest.approx([1400.0, 600.0])


def test_request_table_compacts_and_grows_keeping_the_order() -> None:
    table = RequestTable(capacity=4)
    table.append({"uid": np.arange(3), "vehicle": np.array([5, 6, 7]), "state": DECIDE}, 3)
    table.state[1] = CLOSED
    table.append({"uid": np.arange(3, 6), "vehicle": np.array([8, 9, 10]), "state": RUNNING}, 3)
    view = table.open_view()
    assert len(view) == 5 and view.uid.tolist() == [0, 2, 3, 4, 5]
    assert view.vehicle.tolist() == [5, 7, 8, 9, 10] and view.held.tolist() == [0] * 5
    assert (table.state[5:] == CLOSED).all()  # spare rows are closed
    view.held[0] = 3  # a view writes to the table
    assert table.held[0] == 3


def _trajectory(env, steps: int, seed: int, tied: bool = False) -> list[bytes]:
    """The bytes of a trajectory under seeded random actions (``tied``: prices of a few
    levels, so equal bids meet in the auctions)."""
    rng = np.random.default_rng(seed)
    observations, _ = env.reset(seed=seed)
    frames = [b"".join(o.tobytes() for o in observations.values())]
    for _ in range(steps):
        actions = {agent: rng.random(2).astype(np.float32) for agent in env.agents}
        if tied:
            for action in actions.values():
                action[1] = rng.choice([0.25, 0.5, 1.0])
        actions["vehicle_0"][0] = 0.0  # one vehicle backs off as long as it can (max_held)
        observations, rewards, _, _, infos = env.step(actions)
        frames.append(b"".join(o.tobytes() for o in observations.values())
                      + np.array(list(rewards.values())).tobytes() + repr(infos).encode())
    frames.append(repr(env.metrics()).encode())
    return frames


@pytest.mark.parametrize("make", [
    lambda: V2XOffloadingEnv(capacity=60.0, history=2, max_cycles=400),
    lambda: V2XOffloadingEnv(obs_requests=7, max_held=3, max_hold=20, max_cycles=400),
    lambda: V2XIntersectionEnv(warmup=5.0, max_cycles=400),
    # ample capacity: over 128 requests run at a site (numpy's sums split beyond 128 terms)
    lambda: V2XOffloadingEnv(n_vehicles=60, capacity=2000.0, max_cycles=400),
    lambda: V2XOffloadingEnv(capacity=60.0, tie_break="fifo", type_order="fixed", max_cycles=400),
    lambda: V2XOffloadingEnv(capacity=60.0, budget_mode="per_request", max_cycles=400),
    # the v0 reward rule: the hold alone as backoff delay, no failure terms
    lambda: V2XOffloadingEnv(capacity=60.0, backoff_cost="hold", failure_penalty=0.0,
                             hold_drop_penalty=0.0, max_cycles=400),
])
@pytest.mark.parametrize("tied", [False, True])
def test_compiled_and_numpy_paths_are_equal(make, tied, monkeypatch) -> None:
    """Observations, the held and site phases, the auctions, the starts of the runs, the counts,
    the reward with the metric counters and the arrivals (each one compiled pass) give the same
    trajectory, bit for bit, with numba and without."""
    if observations_module._compiled_frame() is None or core_module._compiled_advance() is None:
        pytest.skip("numba is not installed: only the numpy paths exist")
    compiled = _trajectory(make(), 250, seed=3, tied=tied)
    monkeypatch.setattr(observations_module, "_compiled_frame", lambda: None)
    monkeypatch.setattr(core_module, "_compiled_advance", lambda: None)
    monkeypatch.setattr(core_module, "_compiled_counts", lambda: None)
    monkeypatch.setattr(core_module, "_compiled_decide", lambda: None)
    monkeypatch.setattr(core_module, "_compiled_transit", lambda: None)
    monkeypatch.setattr(core_module, "_compiled_spawn", lambda: None)
    monkeypatch.setattr(core_module, "_compiled_bid_events", lambda: None)
    monkeypatch.setattr(core_module, "_compiled_start", lambda: None)
    monkeypatch.setattr(core_module, "_compiled_auction", lambda: None)
    monkeypatch.setattr(metrics_module, "_compiled_tally", lambda: None)
    monkeypatch.setattr(arrivals_module, "_compiled_arrivals", lambda: None)
    assert _trajectory(make(), 250, seed=3, tied=tied) == compiled


def test_numpy_order_sum_is_numpys_sum_bit_for_bit() -> None:
    """The compiled passes' sum (plain Python here, compiled where numba is) against
    ``np.add.reduce`` on random vectors of every length up to 300 and a few long ones (numpy's
    pairwise blocks of 8 and 128 and its halving beyond)."""
    from auction_envs import _numba

    compiled = _numba.compiled_on_first_use(_numba.numpy_order_sum, _numba.NUMPY_ORDER_SUM[:1])()
    rng = np.random.default_rng(5)
    for size in [*range(300), 1000, 1031, 4096, 20_001]:
        values = rng.random(size) * rng.choice([1e-3, 1.0, 1e6])
        expected = float(np.add.reduce(values))
        assert float(_numba.numpy_order_sum(values, size)) == expected, size
        if compiled is not None:
            assert compiled(values, size) == expected, size
    # a plain left-to-right sum differs: the test can tell the orders apart
    values = rng.random(200)
    assert any(float(np.add.reduce(values[:n])) != sum(values[:n].tolist()) for n in range(9, 200))


def test_compiled_arrivals_are_numpys_draws_and_stream() -> None:
    """The compiled MMPP arrivals (Poisson counts, then the service mix) are
    ``rng.poisson(rates)`` and ``draw_services`` of their sum, with the same draws used up;
    rates numpy draws with another algorithm (10 and more) are left to numpy."""
    kernel = arrivals_module._compiled_arrivals()
    if kernel is None:
        pytest.skip("numba is not installed: only the numpy path exists")
    from auction_envs._numba import bit_generator_handle

    for seed in range(40):
        ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
        rates = ours.uniform(0.0, 9.99, 30)
        theirs.uniform(0.0, 9.99, 30)
        rates[::7] = 0.0  # a rate of 0 draws nothing
        for _ in range(20):
            vehicle, stype, deadline, drawn = kernel(*bit_generator_handle(ours), rates,
                                                     arrivals_module.MIX_CDF,
                                                     arrivals_module.MIX_TYPE,
                                                     arrivals_module.MIX_DEADLINE)
            counts = theirs.poisson(rates)
            expected_type, expected_deadline = draw_services(int(counts.sum()), theirs)
            assert drawn
            assert np.array_equal(vehicle, np.repeat(np.arange(30), counts))
            assert np.array_equal(stype, expected_type)
            assert np.array_equal(deadline, expected_deadline)
        assert ours.random() == theirs.random()
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    *_, drawn = kernel(*bit_generator_handle(rng), np.array([0.5, 10.0]),
                       arrivals_module.MIX_CDF, arrivals_module.MIX_TYPE,
                       arrivals_module.MIX_DEADLINE)
    assert not drawn and rng.bit_generator.state == state


@pytest.mark.parametrize("columns, error", [
    ({"vehicle": np.array([0, 99]), "stype": np.array([0, 0]),
      "relative_deadline": np.array([20, 20])}, ValueError),  # no such vehicle
    ({"vehicle": np.array([0, 1]), "stype": np.array([0, 7]),
      "relative_deadline": np.array([20, 20])}, IndexError),  # no such service type
])
def test_new_requests_out_of_range_raise_as_on_the_numpy_path(columns, error) -> None:
    """The compiled appends index without bounds checks: a population that returns a vehicle or
    service type out of range gets the numpy path's error, and nothing is appended."""
    env = V2XOffloadingEnv(n_vehicles=4, max_cycles=50)
    env.reset(seed=0)
    core = env.unwrapped.core
    core.population.new_requests = lambda now, rng: {k: v.copy() for k, v in columns.items()}
    size = core.requests.size
    with pytest.raises(error):
        env.step({agent: np.array([1.0, 0.5], dtype=np.float32) for agent in env.agents})
    assert core.requests.size == size  # nothing appended


def test_new_requests_of_other_dtypes_take_the_numpy_path() -> None:
    """Columns that are not int64 arrays (here int32) are appended by the numpy path, with the
    values the compiled path writes."""
    runs = []
    for narrow in (False, True):
        env = V2XOffloadingEnv(n_vehicles=3, max_cycles=50)
        env.reset(seed=0)
        core = env.unwrapped.core
        columns = {"vehicle": np.array([0, 2]), "stype": np.array([1, 0]),
                   "relative_deadline": np.array([30, 12])}
        core.population.new_requests = (
            lambda now, rng, c=columns, narrow=narrow:
            {k: v.astype(np.int32 if narrow else np.int64) for k, v in c.items()})
        for _ in range(5):
            env.step({agent: np.array([1.0, 0.5], dtype=np.float32) for agent in env.agents})
        view = core.open_requests()
        runs.append([getattr(view, name).tobytes() for name in ("uid", "vehicle", "value",
                                                                 "deadline", "state")])
    assert runs[0] == runs[1]
