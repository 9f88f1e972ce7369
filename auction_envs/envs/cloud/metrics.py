"""The cloud market's episode metrics from the counters and sums of :class:`CloudMarket`."""

from __future__ import annotations

from typing import Any

import numpy as np

from auction_envs.envs.cloud.core import CloudMarket
from auction_envs.mechanisms.double_auction import jain_index


def episode_metrics(market: CloudMarket, steps: int) -> dict[str, Any]:
    """The metrics of ``CloudDoubleAuctionEnv.metrics`` (documented there) after ``steps``."""
    c = market.counters
    steps = max(market.utilization_steps, 1)
    utilization = (market.utilization_sum / steps).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        unmatched = np.where(market.requested_demand > 0,
                             market.unmatched_demand / market.requested_demand, 0.0)
    return {
        "steps": steps,
        "provider_utility": market.provider_utility.copy(),
        "total_provider_utility": float(market.provider_utility.sum()),
        "revenue": market.revenue.copy(),
        "wins": market.wins.copy(),
        "jain_wins": jain_index(market.wins),
        "providers_without_win": int(np.sum(market.wins == 0)),
        "buyer_utility": market.buyer_utility,
        "mean_buyer_utility": market.buyer_utility / max(c["auctioned"], 1),
        "payments": market.payments,
        "surplus": market.buyer_utility + float(market.provider_utility.sum()),
        "surplus_bound": market.surplus_bound,
        "payments_above_ask": market.payments_above_ask,
        "buyer_drops": c["buyer_drops"],
        "population_drops": market.population_drops,
        "population_episodes": market.population_episodes,
        "active_buyers": int(np.sum(~market.dropped)),
        "dropped_requests": c["dropped_requests"],
        "utilization": utilization,
        "mean_utilization": float(utilization.mean()),
        "unmatched_demand": unmatched,
        "unmatched_requests": c["auctioned"] - c["matched"],
        "match_rate": c["matched"] / max(c["auctioned"], 1),
        "deadline_failures": c["deadline_failures"],
        "single_feasible": c["single_feasible"],
        "arrived": c["arrived"], "auctioned": c["auctioned"], "matched": c["matched"],
        "overflow_requests": c["overflow_requests"], "completed": c["completed"],
    }
