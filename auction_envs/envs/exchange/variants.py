"""Registered variants of the exchange economy (paper 003), and the mechanism's single-agent
Gymnasium view.

Paper sizes: CES with m = 3 goods, n = 5 agents; Amdahl with m = 2, n = 8. The paper's rho and F
are not given [decision]: rho = 0.5 and F = 0.8 by default (the reproduction sweeps
rho in {0.25, 0.5, 0.75}, F in {0.5, 0.8, 0.95}).
"""

from __future__ import annotations

from typing import Any

import gymnasium

from auction_envs.registration import register

TRADERS = "auction_envs.envs.exchange.env:ExchangeEconomyEnv"
MECHANISM = "auction_envs.envs.exchange.mechanism:ExchangeMechanismEnv"
GYM_ID = "auction_envs/ExchangeEconomyMechanismGym-v0"

# rho = 0.5 and F = 0.8 are the constructors' defaults for their family (so that ``family=`` can
# be switched at make() without passing the other family's parameter)
CES_KWARGS = {"n_agents": 5, "n_goods": 3, "family": "ces", "max_cycles": 1000}
AMDAHL_KWARGS = {"n_agents": 8, "n_goods": 2, "family": "amdahl", "max_cycles": 1000}


def make_mechanism_gym(render_mode: str | None = None, **kwargs: Any) -> gymnasium.Env:
    """The mechanism view as a single-agent Gymnasium env (CES, m = 3, n = 5 by default)."""
    from auction_envs.envs.exchange.mechanism import ExchangeMechanismEnv
    from auction_envs.wrappers.single_agent import SingleAgentGymEnv

    return SingleAgentGymEnv(ExchangeMechanismEnv(render_mode=render_mode,
                                                  **{**CES_KWARGS, **kwargs}))


def register_variants() -> None:
    register("auction_envs/ExchangeEconomy-v0", TRADERS, kwargs=dict(CES_KWARGS),
             description="Exchange economy, CES traders in a trading post, bandit feedback "
                         "(paper 003, m=3, n=5)")
    register("auction_envs/ExchangeEconomyAmdahl-v0", TRADERS, kwargs=dict(AMDAHL_KWARGS),
             description="Exchange economy, Amdahl-utility traders in a trading post (m=2, n=8)")
    register("auction_envs/ExchangeEconomyMechanism-v0", MECHANISM, kwargs=dict(CES_KWARGS),
             description="Exchange economy, mechanism view: choose allocation and prices, "
                         "reward -CE loss (paper 003)")
    register("auction_envs/ExchangeEconomyMechanismAmdahl-v0", MECHANISM,
             kwargs=dict(AMDAHL_KWARGS),
             description="Exchange economy, mechanism view with Amdahl utilities (m=2, n=8)")
    if GYM_ID not in gymnasium.registry:
        gymnasium.register(GYM_ID, entry_point=make_mechanism_gym,
                           max_episode_steps=None, disable_env_checker=True)
