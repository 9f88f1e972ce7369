"""auction-envs: multi-agent auction and market environments (PettingZoo parallel API).

>>> import auction_envs
>>> env = auction_envs.make("auction_envs/KellyGame-v0")
>>> observations, infos = env.reset(seed=0)
"""

from auction_envs.core import (
    AuctionEnvError,
    EnvNotFoundError,
    EpisodeOverError,
    InvalidActionError,
    InvalidArgumentError,
    MarketEnv,
)
from auction_envs.envs import register_builtin_envs
from auction_envs.registration import (
    EnvSpec,
    list_envs,
    make,
    pprint_registry,
    register,
    registry,
    spec,
)
from auction_envs.vector import VectorMarketEnv, make_vec

__version__ = "0.1.0"

__all__ = [
    "AuctionEnvError",
    "EnvNotFoundError",
    "EnvSpec",
    "EpisodeOverError",
    "InvalidActionError",
    "InvalidArgumentError",
    "MarketEnv",
    "VectorMarketEnv",
    "list_envs",
    "make",
    "make_vec",
    "pprint_registry",
    "register",
    "registry",
    "spec",
]

register_builtin_envs()
