"""Cloud double auction with trace-driven buyers (paper 004, RTRM) and its CDARA/ICAA baselines."""

from auction_envs.envs.cloud.env import PROVIDER_TABLE, CloudDoubleAuctionEnv
from auction_envs.envs.cloud.trace import TaskEvents, load_task_events, sample_path

__all__ = ["PROVIDER_TABLE", "CloudDoubleAuctionEnv", "TaskEvents", "load_task_events",
           "sample_path"]
