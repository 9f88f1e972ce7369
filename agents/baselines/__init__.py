"""Fixed (non-learning) policies used as baselines."""

from agents.baselines.cloud_pricing import (
    CLOUD_PRICING_POLICIES,
    BudgetShadingPricing,
    FixedMarkupPricing,
    RandomMarkupPricing,
    UtilizationPricing,
)
from agents.baselines.passive_v2x import PassiveV2XPolicy

__all__ = [
    "CLOUD_PRICING_POLICIES",
    "BudgetShadingPricing",
    "FixedMarkupPricing",
    "PassiveV2XPolicy",
    "RandomMarkupPricing",
    "UtilizationPricing",
]
