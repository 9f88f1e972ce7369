"""Registered variants of the Kelly game (parameters of paper 001, Table I and §IV-B)."""

from auction_envs.registration import register

ENTRY_POINT = "auction_envs.envs.kelly.env:KellyGameEnv"


def register_variants() -> None:
    register("auction_envs/KellyGame-v0", ENTRY_POINT,
             kwargs={"n_agents": 10, "a": 100.0, "gamma": 0.0, "c": 400.0, "eps": 1.0,
                     "delta": 0.1, "max_cycles": 3000},
             description="Kelly game, 10 identical log-utility bidders (paper 001, Table I)")
    register("auction_envs/KellyGameHeterogeneous-v0", ENTRY_POINT,
             kwargs={"n_agents": 10, "a": 100.0, "gamma": 10.0, "c": 400.0, "eps": 1.0,
                     "delta": 0.1, "max_cycles": 3000},
             description="Kelly game, heterogeneous valuations a_i = 100 - 10(i-1)")
    register("auction_envs/KellyGameAlphaFair-v0", ENTRY_POINT,
             kwargs={"n_agents": 10, "a": 100.0, "gamma": 0.0, "c": 400.0, "eps": 1.0,
                     "delta": 0.1, "alpha": 2.0, "max_cycles": 3000},
             description="Kelly game with alpha-fair valuations (alpha=2 by default; an argument)")
