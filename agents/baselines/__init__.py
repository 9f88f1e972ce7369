"""Fixed (non-learning) policies used as baselines."""

from agents.baselines.cloud_pricing import (
    CLOUD_PRICING_POLICIES,
    BudgetShadingPricing,
    FixedMarkupPricing,
    RandomMarkupPricing,
    UtilizationPricing,
)
from agents.baselines.passive_v2x import PassiveV2XPolicy
from agents.baselines.scripted_v2x import (
    FixedActionV2XPolicy,
    LateSubmitV2XPolicy,
    NeverOffloadV2XPolicy,
    ScriptedBackoffV2XPolicy,
)

__all__ = [
    "CLOUD_PRICING_POLICIES",
    "BudgetShadingPricing",
    "FixedActionV2XPolicy",
    "FixedMarkupPricing",
    "LateSubmitV2XPolicy",
    "NeverOffloadV2XPolicy",
    "PassiveV2XPolicy",
    "RandomMarkupPricing",
    "ScriptedBackoffV2XPolicy",
    "UtilizationPricing",
]
