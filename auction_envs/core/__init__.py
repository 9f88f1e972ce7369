"""The env contract: the ``MarketEnv`` base class and the errors every env raises."""

from auction_envs.core.errors import (
    AuctionEnvError,
    EnvNotFoundError,
    EpisodeOverError,
    InvalidActionError,
    InvalidArgumentError,
)
from auction_envs.core.market_env import MarketEnv

__all__ = [
    "AuctionEnvError",
    "EnvNotFoundError",
    "EpisodeOverError",
    "InvalidActionError",
    "InvalidArgumentError",
    "MarketEnv",
]
