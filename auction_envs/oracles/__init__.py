"""Reference solutions: equilibria, optima and exploitability, solved exactly."""

from auction_envs.oracles.kelly import (
    kelly_best_response,
    kelly_nash_conv,
    kelly_nash_equilibrium,
    kelly_residual,
    kelly_welfare_optimum,
)

__all__ = [
    "kelly_best_response",
    "kelly_nash_conv",
    "kelly_nash_equilibrium",
    "kelly_residual",
    "kelly_welfare_optimum",
]
