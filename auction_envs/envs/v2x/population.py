"""Who is in the V2X market and what they ask for: the *population* the core simulator is given.

A population owns the vehicles' presence, their request arrivals and their radio link to the ACA.
The core simulator (``core.py``) calls, in every step:

* ``move(now, rng, budget) -> left``: mobility before the step's arrivals; returns the slots whose
  vehicle left (their pending requests are dropped by the core); a vehicle that enters a slot gets a
  fresh budget written into ``budget``;
* ``new_requests(now, rng) -> columns``: the requests created in step ``now``
  (``vehicle``, ``stype``, ``relative_deadline`` and optionally ``data_up`` / ``data_down``);
* ``request_data(stype) -> (data_up, data_down)``: the data of scripted requests;
* ``transfer_latency(vehicle, data_up, data_down, site_latency, sharing) -> (up, down)``: steps to
  ship admitted requests to their site and their results back (``sharing`` = requests in transfer
  when each was admitted: a count, or one per request);
* ``radio_features(sharing) -> (distance / radius, uplink share / 1690 Mbps)`` for observations;

and reads ``present`` (bool per vehicle slot). :class:`SyntheticPopulation` is the synthetic setup
of paper 000 (§IV-A); the junction of §IV-B is ``intersection.JunctionPopulation``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from auction_envs._numba import bit_generator_handle
from auction_envs.envs.v2x import arrivals as arrivals_module
from auction_envs.envs.v2x.arrivals import MIX_CDF, MIX_DEADLINE, MIX_TYPE, MMPP, draw_services

BUDGETS = (2000.0, 1500.0)  # high, low [authors' code]


def draw_budgets(count: int, rng: np.random.Generator) -> np.ndarray:
    """Budgets of ``count`` vehicles: high (2000) or low (1500) with probability 1/2 each."""
    return np.where(rng.random(count) < 0.5, BUDGETS[0], BUDGETS[1])


class Population(Protocol):
    n_vehicles: int
    present: np.ndarray

    def reset(self, rng: np.random.Generator, budget: np.ndarray) -> None: ...

    def move(self, now: int, rng: np.random.Generator, budget: np.ndarray) -> np.ndarray: ...

    def new_requests(self, now: int, rng: np.random.Generator) -> dict[str, np.ndarray]: ...

    def request_data(self, stype: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def transfer_latency(self, vehicle: np.ndarray, data_up: np.ndarray, data_down: np.ndarray,
                         site_latency: np.ndarray, sharing: int | np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]: ...

    def radio_features(self, sharing: int) -> tuple[np.ndarray, np.ndarray]: ...


class SyntheticPopulation:
    """The synthetic setup: ``n_vehicles`` vehicles, always present, speed 0, each with a two-state
    MMPP of arrivals (``arrivals.MMPP``) and the service mix of MARKETS §2; the site latency is the
    whole transfer time (the paper's uplink latency is 0)."""

    def __init__(self, n_vehicles: int) -> None:
        self.n_vehicles = n_vehicles
        self.mmpp = MMPP(n_vehicles)
        self.present = np.ones(n_vehicles, dtype=bool)
        self._no_radio = (np.zeros(n_vehicles), np.zeros(n_vehicles))

    def reset(self, rng: np.random.Generator, budget: np.ndarray) -> None:
        self.mmpp.reset(rng)
        self.present = np.ones(self.n_vehicles, dtype=bool)

    def move(self, now: int, rng: np.random.Generator, budget: np.ndarray) -> np.ndarray:
        return np.zeros(0, dtype=np.int64)

    def new_requests(self, now: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        kernel = arrivals_module._compiled_arrivals()
        if kernel is not None:  # the draws below in one compiled pass, the same stream
            vehicle, stype, deadline, drawn = kernel(*bit_generator_handle(rng),
                                                     self.mmpp.rates_at(now, rng), MIX_CDF,
                                                     MIX_TYPE, MIX_DEADLINE)
            if drawn:
                return {"vehicle": vehicle, "stype": stype, "relative_deadline": deadline}
            counts = rng.poisson(self.mmpp.rates)  # (rates of 10 or more, or invalid ones)
        else:
            counts = self.mmpp.arrivals(now, rng)
        vehicle = np.repeat(np.arange(self.n_vehicles), counts)
        stype, deadline = draw_services(int(counts.sum()), rng)
        return {"vehicle": vehicle, "stype": stype, "relative_deadline": deadline}

    def request_data(self, stype: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zero = np.zeros(len(stype))
        return zero, zero

    def transfer_latency(self, vehicle: np.ndarray, data_up: np.ndarray, data_down: np.ndarray,
                         site_latency: np.ndarray, sharing: int | np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
        return site_latency, site_latency

    def radio_features(self, sharing: int) -> tuple[np.ndarray, np.ndarray]:
        return self._no_radio

    def arrival_rates(self) -> np.ndarray:
        """Each vehicle's current MMPP rate (requests per step): the ground truth of the
        observation's arrival-rate estimate."""
        return self.mmpp.rates


__all__ = ["BUDGETS", "Population", "SyntheticPopulation", "draw_budgets"]
