"""The V2X computation-offloading market of paper 000 (DRACO): vehicles bid in k-slot second-price
auctions for edge and remote computing slots."""

from auction_envs.envs.v2x.env import V2XOffloadingEnv, default_sites
from auction_envs.envs.v2x.intersection import V2XIntersectionEnv, intersection_sites
from auction_envs.envs.v2x.sites import SiteProfile, rial_choice, rial_price, rial_prices
from auction_envs.envs.v2x.vector import V2XVectorEnv

__all__ = [
    "SiteProfile",
    "V2XIntersectionEnv",
    "V2XOffloadingEnv",
    "V2XVectorEnv",
    "default_sites",
    "intersection_sites",
    "rial_choice",
    "rial_price",
    "rial_prices",
]
