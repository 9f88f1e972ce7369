"""Request arrivals: the service mix and the per-vehicle two-state MMPP of paper 000.

Everything here is vectorized over vehicles and draws from the generator it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auction_envs._numba import compiled_on_first_use, next_double

# Task types and their work in time-resource units (paper 000, §IV-A).
TASK_NAMES = ("F1", "F2")
TASK_WORK = np.array([3.0, 30.0])

# Service types of the synthetic setup: the four chain kinds. Column j of CHAIN_TASKS is the j-th
# task of the chain (-1 = none).
SERVICE_NAMES = ("F1", "F2", "F1-F2", "F2-F1")
CHAIN_TASKS = np.array([[0, -1], [1, -1], [0, 1], [1, 0]])
CHAIN_LENGTH = (CHAIN_TASKS >= 0).sum(axis=1)

# The mix of (service type, deadline in steps) and its probabilities. The paper prints 18.75% for
# F2-F1/300 *and* for F2-F1/50, which sums to 112.5%: the last entry is a typo for 6.25% (the mix is
# symmetric in F1/F2 order and deadline, MARKETS §2).
SERVICE_MIX = (
    ("F1", 300, 0.1875), ("F1", 50, 0.1875), ("F2", 300, 0.0625), ("F2", 50, 0.0625),
    ("F1-F2", 300, 0.1875), ("F1-F2", 50, 0.1875), ("F2-F1", 300, 0.0625), ("F2-F1", 50, 0.0625),
)
MIX_TYPE = np.array([SERVICE_NAMES.index(name) for name, _, _ in SERVICE_MIX])
MIX_DEADLINE = np.array([deadline for _, deadline, _ in SERVICE_MIX])
MIX_PROBABILITY = np.array([p for _, _, p in SERVICE_MIX])
assert abs(MIX_PROBABILITY.sum() - 1.0) < 1e-12
# The cumulative distribution exactly as ``Generator.choice(p=...)`` builds it: drawing
# ``searchsorted(cdf, rng.random(count), side="right")`` is that call's result and random stream
# (tested) without its per-call checks of ``p``.
MIX_CDF = MIX_PROBABILITY.cumsum()
MIX_CDF /= MIX_CDF[-1]


@dataclass
class MMPP:
    """Two-state Markov-modulated Poisson arrivals, one independent process per vehicle.

    Every ``period`` steps each vehicle's state flips with probability ``flip_probability``; the
    rate of a vehicle is drawn once per episode per state: high ``~U(high)``, low ``~U(low)``
    requests per step. Within a period the rate is constant, so the number of arrivals in one step
    is Poisson(rate): exactly the count of exponential inter-arrival times ``Exp(1/rate)`` that
    fall in that step (drawing counts instead of times is equivalent and vectorizes).

    The initial state is high or low with probability 1/2 (the stationary law of the symmetric
    chain).
    """

    n_vehicles: int
    high: tuple[float, float] = (0.484, 0.6)
    low: tuple[float, float] = (0.02, 0.136)
    period: int = 100
    flip_probability: float = 0.6

    def reset(self, rng: np.random.Generator) -> None:
        self.rate_high = rng.uniform(*self.high, size=self.n_vehicles)
        self.rate_low = rng.uniform(*self.low, size=self.n_vehicles)
        self.is_high = rng.random(self.n_vehicles) < 0.5
        self._rates = np.where(self.is_high, self.rate_high, self.rate_low)

    @property
    def rates(self) -> np.ndarray:
        """Each vehicle's current rate (requests per step; constant within a period)."""
        return self._rates

    def arrivals(self, t: int, rng: np.random.Generator) -> np.ndarray:
        """Number of new requests of each vehicle in step ``t`` (state flips first at t % period == 0)."""
        return rng.poisson(self.rates_at(t, rng))

    def rates_at(self, t: int, rng: np.random.Generator) -> np.ndarray:
        """Each vehicle's rate in step ``t``, after the state flips due then (the draws of
        ``arrivals`` before its Poisson counts)."""
        if t > 0 and t % self.period == 0:
            self.is_high ^= rng.random(self.n_vehicles) < self.flip_probability
            self._rates = np.where(self.is_high, self.rate_high, self.rate_low)
        return self._rates


def draw_services(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` requests from the service mix: ``(service type index, deadline in steps)``."""
    index = MIX_CDF.searchsorted(rng.random(count), side="right")  # rng.choice(8, count, p=...)
    return MIX_TYPE[index], MIX_DEADLINE[index]


def bid_values(budget: np.ndarray, deadline: np.ndarray, chain_length: np.ndarray,
               reference_deadline: float = 50.0) -> np.ndarray:
    """Bid values ``v = B (0.75 + 0.25 (50 / Q) (L / 2))`` of the authors' code (MARKETS §2)."""
    return budget * (0.75 + 0.25 * (reference_deadline / deadline) * (chain_length / 2.0))


def _arrivals_kernel(function, state, rates, cdf, mix_type, mix_deadline):  # pragma: no cover
    """``rng.poisson(rates)`` then ``draw_services`` of their sum, compiled by numba, drawing
    from the bit generator ``(function, state)`` (``_numba.bit_generator_handle``) the uniforms
    numpy's own algorithm draws for a rate below 10 (``random_poisson_mult``: multiply uniforms
    until the product falls to ``exp(-rate)`` or below; rate 0: no draw). Returns each request's
    vehicle, service type and deadline, and False (nothing drawn) if a rate is not in ``[0, 10)``:
    numpy's other algorithm, or its error."""
    n = rates.size
    for v in range(n):
        if not (rates[v] >= 0.0 and rates[v] < 10.0):
            empty = np.empty(0, dtype=np.int64)
            return empty, mix_type[:0], mix_deadline[:0], False
    counts = np.zeros(n, dtype=np.int64)
    total = 0
    for v in range(n):
        if rates[v] == 0.0:
            continue
        floor = np.exp(-rates[v])
        product = 1.0
        while True:
            product *= next_double(function, state)
            if product > floor:
                counts[v] += 1
            else:
                break
        total += counts[v]
    vehicle = np.empty(total, dtype=np.int64)
    stype = np.empty(total, dtype=mix_type.dtype)
    deadline = np.empty(total, dtype=mix_deadline.dtype)
    i = 0
    for v in range(n):
        for _ in range(counts[v]):
            vehicle[i] = v
            i += 1
    for i in range(total):
        u = next_double(function, state)
        j = 0
        while j < cdf.size and cdf[j] <= u:  # cdf.searchsorted(u, side="right")
            j += 1
        stype[i] = mix_type[j]
        deadline[i] = mix_deadline[j]
    return vehicle, stype, deadline, True


# without numba ``MMPP.arrivals`` and ``draw_services`` run (``SyntheticPopulation.new_requests``)
_compiled_arrivals = compiled_on_first_use(_arrivals_kernel)
