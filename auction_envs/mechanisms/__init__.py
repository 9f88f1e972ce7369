"""Pure, batchable numpy mechanisms (allocation and payment rules) shared by the markets."""

from auction_envs.mechanisms.double_auction import (
    MECHANISM_RULES,
    CDARARules,
    ICAARules,
    RTRMRules,
    gsp_payment,
    jain_index,
    saw_preference,
)
from auction_envs.mechanisms.proportional import proportional_allocation
from auction_envs.mechanisms.second_price import second_price
from auction_envs.mechanisms.trading_post import (
    PRDResult,
    budgets_at,
    proportional_response_dynamics,
    proportional_response_step,
    trading_post,
)
from auction_envs.mechanisms.vcg import (
    clarke_payments,
    dvcg_delta,
    dvcg_perturbation,
    dvcg_tax,
    perturbation_norm,
)

__all__ = [
    "MECHANISM_RULES",
    "CDARARules",
    "ICAARules",
    "PRDResult",
    "RTRMRules",
    "budgets_at",
    "clarke_payments",
    "dvcg_delta",
    "dvcg_perturbation",
    "dvcg_tax",
    "gsp_payment",
    "jain_index",
    "perturbation_norm",
    "proportional_allocation",
    "proportional_response_dynamics",
    "proportional_response_step",
    "saw_preference",
    "second_price",
    "trading_post",
]
