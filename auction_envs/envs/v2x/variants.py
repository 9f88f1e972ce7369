"""Registered variants of the V2X offloading market (paper 000, §IV)."""

from auction_envs.registration import register

ENTRY_POINT = "auction_envs.envs.v2x.env:V2XOffloadingEnv"


def register_variants() -> None:
    register("auction_envs/V2XOffloading-v0", ENTRY_POINT,
             kwargs={"n_vehicles": 30, "capacity": 100.0, "max_rebids": 1, "max_cycles": 8000},
             description="V2X offloading, synthetic: 30 vehicles bid for edge/remote slots, "
                         "capacity 100, MP 1 (paper 000)")
    register("auction_envs/V2XOffloadingHighContention-v0", ENTRY_POINT,
             kwargs={"n_vehicles": 30, "capacity": 60.0, "max_rebids": 1, "max_cycles": 8000},
             description="V2X offloading, synthetic, high contention (capacity 60, MP 1)")
