"""What the cloud providers observe: the layout of their observation (buyer slots, then own
fields), the observations written from the market's state, and the global state vector."""

from __future__ import annotations

import numpy as np

from auction_envs.core.layout import Field, ObservationLayout
from auction_envs.envs.cloud.core import CloudMarket

#: per buyer slot: one entry per slot in each of these fields (see ``observation_layout``)
SLOT_FIELDS = (
    "present", "cpu_share", "memory_share", "storage_share", "length", "max_wait", "budget",
    "strength", "reserve_ratio", "can_schedule", "predicted_utilization",
)
PROVIDER_FIELDS = (
    "utilization", "booked", "base_price_cpu", "base_price_memory", "base_price_storage",
    "win_share", "last_reward", "batch_size", "progress", "under_quota",
)


def observation_layout(max_buyers: int, length_max: int, wait_max: int, budget_max: float,
                       base_price_max: np.ndarray) -> ObservationLayout:
    """The providers' observation: the slot fields (``max_buyers`` entries each), then the
    provider's own fields. Values in natural units through ``layout.unpack``."""
    m = max_buyers
    slot = [
        Field("present", m, 0.0, 1.0, description="1 for a buyer in the slot, 0 for an empty slot"),
        Field("cpu_share", m, 0.0, description="CPU request / this provider's CPU capacity"),
        Field("memory_share", m, 0.0, description="memory request / own memory capacity"),
        Field("storage_share", m, 0.0, description="storage request / own storage capacity"),
        Field("length", m, 0.0, 1.0, float(length_max), "execution length s_j (steps)"),
        Field("max_wait", m, 0.0, 1.0, float(max(wait_max, 1)), "maximum wait w_j (steps)"),
        Field("budget", m, 0.0, 1.0, float(budget_max), "budget bid_j"),
        Field("strength", m, 0.0, description="contest strength m * eta_j (eq. 3)"),
        Field("reserve_ratio", m, 0.0, description="own base cost of the bundle / budget"),
        Field("can_schedule", m, 0.0, 1.0, description="1 if it fits within its wait here"),
        Field("predicted_utilization", m, 0.0, description="U_ij with the job admitted"),
    ]
    own = [
        Field("utilization", 3, 0.0, 1.0, description="used share of capacity now (cpu, mem, sto)"),
        Field("booked", 3, 0.0, 1.0, description="mean booked share over the utilization horizon"),
        Field("base_price_cpu", 1, 0.0, 1.0, float(base_price_max[0]), "own CPU base price"),
        Field("base_price_memory", 1, 0.0, 1.0, float(base_price_max[1]), "own memory base price"),
        Field("base_price_storage", 1, 0.0, 1.0, float(base_price_max[2]), "own storage base price"),
        Field("win_share", 1, 0.0, 1.0, description="share of the episode's wins so far"),
        Field("last_reward", 1, description="reward of the previous step"),
        Field("batch_size", 1, 0.0, 1.0, float(m), "buyers in this step's batch"),
        Field("progress", 1, 0.0, 1.0, description="steps so far / max_cycles"),
        Field("under_quota", 1, 0.0, 1.0, description="1 if under its fairness quota"),
    ]
    return ObservationLayout(slot + own)


class ObservationWriter:
    """Every provider's observation, written straight into one array by the layout's slices.

    (The layout's generic ``pack`` of a dict of fields cost more than the step's matching.) The slot
    fields come first and field-major, so they are one ``(n, fields, max_buyers)`` block; the
    provider's own fields go to their slices. Stored values are ``value / scale``, as ``pack``
    stores them.
    """

    def __init__(self, layout: ObservationLayout, n_providers: int, max_buyers: int) -> None:
        m = max_buyers
        for index, name in enumerate(SLOT_FIELDS):
            if layout.slice(name) != slice(index * m, (index + 1) * m):
                raise ValueError(f"slot field {name!r} is not at entries {index * m}.. (field-major)")
        self.layout, self.n_providers, self.max_buyers = layout, n_providers, m
        self.column = {name: layout.slice(name) for name in PROVIDER_FIELDS}
        self.scale = np.concatenate([np.full(field.size, field.scale) for field in layout.fields])

    def observations(self, market: CloudMarket, capacity: np.ndarray, utilization_horizon: int,
                     progress: float) -> np.ndarray:
        """The ``(n, layout.size)`` float32 observations of the market's coming batch."""
        n, m, batch = self.n_providers, self.max_buyers, market.batch
        k = batch["bid"].size
        out = np.zeros((n, self.layout.size))
        slot = out[:, :len(SLOT_FIELDS) * m].reshape(n, len(SLOT_FIELDS), m)  # a view
        if k:
            slot[:, 0, :k] = 1.0  # present
            slot[:, 1:4, :k] = market.share.transpose(0, 2, 1)  # cpu, memory, storage shares
            slot[:, 4, :k] = batch["length"]
            slot[:, 5, :k] = batch["wait"]
            slot[:, 6, :k] = batch["bid"]
            slot[:, 7, :k] = k * market.eta  # strength
            slot[:, 8, :k] = market.reserve / batch["bid"]  # reserve ratio
            slot[:, 9, :k] = market.starts >= 0  # can schedule
            slot[:, 10, :k] = market.predicted
        for name, value in provider_values(market, capacity, utilization_horizon,
                                           progress).items():
            out[:, self.column[name]] = value.reshape(n, -1)
        out /= self.scale
        return out.astype(np.float32)


def provider_values(market: CloudMarket, capacity: np.ndarray, utilization_horizon: int,
                    progress: float) -> dict[str, np.ndarray]:
    """The providers' own observation fields in natural units, ``(n,)`` or ``(n, 3)``
    (``capacity`` ``(n, 3)`` in price units)."""
    n, horizon = capacity.shape[0], utilization_horizon
    # clip as maximum then minimum, the mean as sum / count: np.clip's and np.mean's results
    # without their per-call overhead
    return {
        "utilization": np.minimum(np.maximum(market.booked[:, 0, :] / capacity, 0.0), 1.0),
        "booked": np.minimum(np.maximum(market.booked[:, :horizon, :].sum(axis=1) / horizon
                                        / capacity, 0.0), 1.0),
        "base_price_cpu": market.base_prices[:, 0],
        "base_price_memory": market.base_prices[:, 1],
        "base_price_storage": market.base_prices[:, 2],
        "win_share": market.wins / max(int(market.wins.sum()), 1),
        "last_reward": market.last_reward,
        "batch_size": np.full(n, float(market.batch["bid"].size)),
        "progress": np.full(n, progress),
        "under_quota": market.under_quota().astype(np.float64),
    }


def global_state(market: CloudMarket, values: dict[str, np.ndarray], max_buyers: int,
                 price_units: np.ndarray, reference_capacity: np.ndarray,
                 scales: tuple[float, float, float], base_price_max: np.ndarray,
                 progress: float) -> np.ndarray:
    """The state vector (see ``CloudDoubleAuctionEnv.state``) from the providers' own ``values``
    (:func:`provider_values`);
    ``scales`` are the largest length, wait (at least 1) and budget."""
    m, batch = max_buyers, market.batch
    k = batch["bid"].size
    slots = np.zeros((m, 8))
    if k:
        slots[:k, 0] = 1.0
        slots[:k, 1:4] = batch["request"] * price_units / reference_capacity
        slots[:k, 4] = batch["length"] / scales[0]
        slots[:k, 5] = batch["wait"] / scales[1]
        slots[:k, 6] = batch["bid"] / scales[2]
        slots[:k, 7] = k * market.eta
    provider = np.concatenate([values["utilization"], values["booked"],
                               market.base_prices / base_price_max,
                               values["win_share"][:, None]], axis=1)
    return np.concatenate([slots.ravel(), provider.ravel(), [progress]]).astype(np.float32)
