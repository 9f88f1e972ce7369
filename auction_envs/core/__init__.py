"""The env contract: the ``MarketEnv`` base class and the errors every env raises."""

from auction_envs.core.errors import (
    AuctionEnvError,
    EnvNotFoundError,
    EpisodeOverError,
    InvalidActionError,
    InvalidArgumentError,
    ResetNeededError,
)
from auction_envs.core.layout import Field, ObservationLayout, float32_box
from auction_envs.core.market_env import MarketEnv

__all__ = [
    "AuctionEnvError",
    "EnvNotFoundError",
    "EpisodeOverError",
    "Field",
    "InvalidActionError",
    "InvalidArgumentError",
    "MarketEnv",
    "ObservationLayout",
    "ResetNeededError",
    "float32_box",
]
