"""Computing sites, their resource profiles, the ACA's delayed view and RIAL load balancing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SiteProfile:
    """How a computing site serves each task type (paper 000: "each computing site may offer all
    services but with different resource profiles, i.e. amount and duration").

    A task of ``w`` time-resource units holds ``amount[f]`` resource units of the site for
    ``w / (amount[f] * work_rate)`` steps (nominal; the actual duration carries noise). A chain of
    tasks runs on one site, task after task, and holds the largest amount of its tasks for the whole
    chain: that pair (amount, nominal duration) is the site's *slot* of the service type.

    Attributes:
        name: label used in metrics ("edge", "remote").
        share: fraction of the total capacity at this site.
        amount: resource units held per task type (indexed like ``arrivals.TASK_WORK``).
        work_rate: time-resource units processed per resource unit per step.
        latency: steps to ship a request to the site and (again) its result back (one way).
        info_delay: steps before the site's utilization reaches the ACA (0 = exact view).
        info_delay_std: std of the normal noise on that delay (rounded, floored at 0).
        info_noise_std: std of the normal noise added to the reported utilization (a fraction).
    """

    name: str
    share: float
    amount: tuple[float, ...]
    work_rate: float
    latency: int = 0
    info_delay: int = 0
    info_delay_std: float = 0.0
    info_noise_std: float = 0.0

    def slot(self, chain_tasks: np.ndarray, task_work: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(amount, nominal duration in steps)`` per service type (rows of ``chain_tasks``)."""
        amount = np.asarray(self.amount, dtype=np.float64)
        present = chain_tasks >= 0
        safe = np.where(present, chain_tasks, 0)
        held = np.where(present, amount[safe], 0.0).max(axis=1)
        duration = np.where(present, task_work[safe] / (amount[safe] * self.work_rate), 0.0).sum(axis=1)
        return held, duration


def default_sites(slot_size: float = 0.27, edge_share: float = 0.5, remote_latency: int = 2,
                  info_delay: int = 10, info_delay_std: float = 2.0, info_noise_std: float = 0.02,
                  edge_speed: float = 0.8) -> tuple[SiteProfile, SiteProfile]:
    """The synthetic setup's two sites (edge, remote); see ``V2XOffloadingEnv`` (Resource model)."""
    edge = SiteProfile("edge", edge_share, amount=(slot_size, slot_size),
                       work_rate=edge_speed / slot_size)
    remote = SiteProfile("remote", 1.0 - edge_share, amount=(slot_size, 2 * slot_size),
                         work_rate=1.0 / slot_size, latency=remote_latency, info_delay=info_delay,
                         info_delay_std=info_delay_std, info_noise_std=info_noise_std)
    return edge, remote


def rial_price(predicted_utilization, resource_cost, factor: float = 0.8):
    """RIAL's resource price: ``factor * predicted utilization * resource cost``.

    Resource-intensity-aware load balancing (Liu et al., as used in paper 000): each site quotes a
    price that grows with its (predicted) load and with the request's resource volume at that site;
    the request goes to the cheapest site. Plain arithmetic: numbers or numpy arrays (broadcast).
    """
    return factor * predicted_utilization * resource_cost


def rial_prices(predicted_utilization, resource_cost, factor: float = 0.8) -> np.ndarray:
    """:func:`rial_price` over sequences of sites (array-likes, broadcast)."""
    return rial_price(np.asarray(predicted_utilization, dtype=np.float64),
                      np.asarray(resource_cost, dtype=np.float64), factor)


def rial_choice(view_used, capacity, amount, resource_cost, factor: float = 0.8) -> int:
    """Index of the site RIAL assigns one request to, or -1 when no site has room in the view.

    Args:
        view_used: resource units in use at each site as the ACA sees them.
        capacity: capacity of each site.
        amount: resource units the request holds at each site.
        resource_cost: the request's resource volume (amount x nominal duration) at each site.
        factor: RIAL's price factor (0.8).

    Returns the cheapest site among those where ``view_used + amount <= capacity``, priced by
    :func:`rial_price` with predicted utilization ``(view_used + amount) / capacity``; ties go
    to the lowest index (the edge site). Plain Python over the (few) sites: it runs once per
    admitted request.
    """
    best, best_price = -1, math.inf
    for s in range(len(view_used)):  # (indexing, not zip: the auction's compiled pass runs it too)
        predicted = float(view_used[s]) + float(amount[s])
        room = float(capacity[s])
        if predicted <= room + 1e-9:
            price = rial_price(predicted / room, float(resource_cost[s]), factor)
            if price < best_price:
                best, best_price = s, price
    return best


@dataclass
class DelayedView:
    """What the ACA knows of a site's utilization: the value ``delay`` steps ago plus noise.

    Records one value per step; ``read(t, rng)`` returns the record of step
    ``t - max(0, round(delay + N(0, delay_std)))`` (the oldest record when the history is shorter)
    plus ``N(0, noise_std)``, clipped to ``[0, 1]``. With ``delay = 0`` and no noise it is exact.
    """

    delay: int
    delay_std: float = 0.0
    noise_std: float = 0.0
    history: list[float] = field(default_factory=list)

    def reset(self, initial: float = 0.0) -> None:
        self.history = [initial]

    def record(self, value: float) -> None:
        self.history.append(float(value))
        keep = self.delay + int(6 * self.delay_std) + 2
        if len(self.history) > 2 * keep + 16:
            del self.history[: len(self.history) - keep]

    def read(self, rng: np.random.Generator) -> float:
        lag = self.delay
        if self.delay_std > 0:
            lag = max(0, round(self.delay + rng.normal(0.0, self.delay_std)))
        value = self.history[max(0, len(self.history) - 1 - lag)]
        if self.noise_std > 0:
            value = min(1.0, max(0.0, value + rng.normal(0.0, self.noise_std)))
        return value
