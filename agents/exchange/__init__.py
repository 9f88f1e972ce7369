"""Learners for the exchange economy (paper 003): proportional response traders, the paper's
Algorithm 1 (``BanditCE``) and the greedy plug-in baseline (``GreedyCE``)."""

from agents.exchange.bandit_ce import BanditCE, BanditCEConfig, GreedyCE
from agents.exchange.proportional_response import (
    ProportionalResponseTrader,
    proportional_response_traders,
)

__all__ = [
    "BanditCE",
    "BanditCEConfig",
    "GreedyCE",
    "ProportionalResponseTrader",
    "proportional_response_traders",
]
