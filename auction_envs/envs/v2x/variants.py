"""Registered variants of the V2X offloading market (paper 000, §IV)."""

from auction_envs.registration import register

ENTRY_POINT = "auction_envs.envs.v2x.env:V2XOffloadingEnv"


def register_variants() -> None:
    register("auction_envs/V2XOffloading-v1", ENTRY_POINT,
             kwargs={"n_vehicles": 30, "capacity": 100.0, "max_rebids": 1, "max_cycles": 8000},
             description="V2X offloading, synthetic: 30 vehicles bid for edge/remote slots, "
                         "capacity 100, MP 1 (paper 000)")
    register("auction_envs/V2XOffloadingHighContention-v1", ENTRY_POINT,
             kwargs={"n_vehicles": 30, "capacity": 60.0, "max_rebids": 1, "max_cycles": 8000},
             description="V2X offloading, synthetic, high contention (capacity 60, MP 1)")
    intersection = "auction_envs.envs.v2x.intersection:V2XIntersectionEnv"
    register("auction_envs/V2XOffloadingIntersection-v1", intersection,
             kwargs={"n_vehicles": 30, "capacity": 30.0, "max_rebids": 1, "max_cycles": 8000,
                     "arrival_interval": 2.2, "speed_kmh": 10.0, "green": (10.0, 40.0)},
             description="V2X offloading at a 4-way junction with a traffic light, 10 ms steps "
                         "(paper 000 §IV-B, training setup: capacity 30; mobility='sumo' optional)")
    register("auction_envs/V2XOffloadingIntersectionTest-v1", intersection,
             kwargs={"n_vehicles": 30, "capacity": 20.0, "max_rebids": 1, "max_cycles": 8000,
                     "arrival_interval": 1.0, "speed_kmh": 30.0, "green": 20.0},
             description="V2X junction, the paper's test setup: capacity 20, 30 km/h, 1 vehicle/s, "
                         "greens of 20 s")
