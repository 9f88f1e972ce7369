"""The repeated Kelly (proportional allocation) game (paper 001): the market core and its shell."""

from auction_envs.envs.kelly.core import KellyCore
from auction_envs.envs.kelly.env import LAYOUT, KellyGameEnv
from auction_envs.envs.kelly.vector import KellyVectorEnv

__all__ = ["LAYOUT", "KellyCore", "KellyGameEnv", "KellyVectorEnv"]
