"""IoV resource slicing with the dual-currency VCG auction and a bank (paper 002)."""

from auction_envs.envs.iov.bank import Bank
from auction_envs.envs.iov.env import IoVSlicingEnv
from auction_envs.envs.iov.vector import IoVVectorEnv

__all__ = ["Bank", "IoVSlicingEnv", "IoVVectorEnv"]
