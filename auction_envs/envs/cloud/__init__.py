"""Cloud double auction with trace-driven buyers (paper 004, RTRM) and its CDARA/ICAA baselines."""

from auction_envs.envs.cloud.env import (
    MECHANISMS,
    PROVIDER_FIELDS,
    PROVIDER_TABLE,
    SLOT_FIELDS,
    CloudDoubleAuctionEnv,
    observation_layout,
)
from auction_envs.envs.cloud.trace import TaskEvents, load_task_events, sample_path
from auction_envs.envs.cloud.vector import CloudVectorEnv

__all__ = [
    "MECHANISMS",
    "PROVIDER_FIELDS",
    "PROVIDER_TABLE",
    "SLOT_FIELDS",
    "CloudDoubleAuctionEnv",
    "CloudVectorEnv",
    "TaskEvents",
    "load_task_events",
    "observation_layout",
    "sample_path",
]
