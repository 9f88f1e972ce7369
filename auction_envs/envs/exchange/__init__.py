"""The exchange economy of paper 003: traders' view, mechanism's view, the economy itself."""

from auction_envs.envs.exchange.economy import Economy, sample_economy
from auction_envs.envs.exchange.env import ExchangeEconomyEnv
from auction_envs.envs.exchange.mechanism import (
    ExchangeMechanismEnv,
    decode_action,
    encode_action,
)

__all__ = [
    "Economy",
    "ExchangeEconomyEnv",
    "ExchangeMechanismEnv",
    "decode_action",
    "encode_action",
    "sample_economy",
]
