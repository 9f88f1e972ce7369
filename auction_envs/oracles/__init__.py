"""Reference solutions: equilibria, optima and exploitability, solved exactly."""

from auction_envs.oracles.exchange import (
    ce_loss,
    competitive_equilibrium,
    fair_division_loss,
    pareto_loss,
    sharing_incentive_loss,
    verify_competitive_equilibrium,
)
from auction_envs.oracles.kelly import (
    kelly_best_response,
    kelly_nash_conv,
    kelly_nash_equilibrium,
    kelly_residual,
    kelly_welfare_optimum,
)
from auction_envs.oracles.slicing import (
    qvcg_allocation_dp,
    qvcg_allocation_milp,
    slicing_kkt_residual,
    slicing_welfare_optimum,
    truthful_bids,
    vcg_payments,
)

__all__ = [
    "ce_loss",
    "competitive_equilibrium",
    "fair_division_loss",
    "kelly_best_response",
    "kelly_nash_conv",
    "kelly_nash_equilibrium",
    "kelly_residual",
    "kelly_welfare_optimum",
    "pareto_loss",
    "qvcg_allocation_dp",
    "qvcg_allocation_milp",
    "sharing_incentive_loss",
    "slicing_kkt_residual",
    "slicing_welfare_optimum",
    "truthful_bids",
    "vcg_payments",
    "verify_competitive_equilibrium",
]
