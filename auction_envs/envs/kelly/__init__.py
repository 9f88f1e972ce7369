"""The repeated Kelly (proportional allocation) game (paper 001)."""

from auction_envs.envs.kelly.env import KellyGameEnv

__all__ = ["KellyGameEnv"]
