"""Registered variants of the cloud double auction (paper 004, RTRM)."""

from auction_envs.registration import register

ENTRY_POINT = "auction_envs.envs.cloud.env:CloudDoubleAuctionEnv"


def register_variants() -> None:
    register("auction_envs/CloudDoubleAuction-v1", ENTRY_POINT,
             kwargs={"mechanism": "rtrm", "fairness": False, "max_cycles": 100},
             description="Cloud double auction, 7 provider pricing agents, trace buyers, RTRM "
                         "matching (paper 004); mechanism='cdara'|'icaa' for the baselines")
    register("auction_envs/CloudDoubleAuctionFair-v1", ENTRY_POINT,
             kwargs={"mechanism": "rtrm", "fairness": True, "max_cycles": 100},
             description="Cloud double auction with the fairness mechanism (RTRM-Fairness)")
    register("auction_envs/CloudDoubleAuctionLowLoad-v1", ENTRY_POINT,
             kwargs={"mechanism": "rtrm", "fairness": False, "max_cycles": 100,
                     "step_seconds": 0.1},
             description="Cloud double auction at low load (0.1 trace s per step, about one buyer "
                         "per step): some providers win nothing without fairness")
    register("auction_envs/CloudDoubleAuctionLowLoadFair-v1", ENTRY_POINT,
             kwargs={"mechanism": "rtrm", "fairness": True, "max_cycles": 100,
                     "step_seconds": 0.1},
             description="Low-load cloud double auction with the fairness mechanism")
