"""The exchange economy of paper 003: traders' view, mechanism's view, the economy itself."""

from auction_envs.envs.exchange.core import ExchangeCore, decode_action, encode_action, trade
from auction_envs.envs.exchange.economy import Economy, sample_economy
from auction_envs.envs.exchange.env import ExchangeEconomyEnv, trader_layout
from auction_envs.envs.exchange.mechanism import ExchangeMechanismEnv, mechanism_layout
from auction_envs.envs.exchange.vector import ExchangeVectorEnv

__all__ = [
    "Economy",
    "ExchangeCore",
    "ExchangeEconomyEnv",
    "ExchangeMechanismEnv",
    "ExchangeVectorEnv",
    "decode_action",
    "encode_action",
    "mechanism_layout",
    "sample_economy",
    "trade",
    "trader_layout",
]
