"""What the two exchange-economy views share: arguments (checked once), the economy drawn at
reset, the core, the reference CE and the metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from auction_envs.core import InvalidArgumentError, MarketEnv
from auction_envs.core.checks import (
    MAX_AGENTS,
    MAX_SCALE,
    check_choice,
    check_int,
    check_range_pair,
    check_real,
)
from auction_envs.envs.exchange.core import ExchangeCore
from auction_envs.envs.exchange.economy import check_fixed, sample_economy
from auction_envs.oracles.exchange import FAMILIES, UtilityFamily, make_family

DEFAULT_RHO = 0.5  #: CES rho when none is given [decision: the paper gives none]
DEFAULT_F = 0.8    #: Amdahl F when none is given [decision]
MAX_GOODS = 1_000  #: the most goods (every observation holds a row per good and agent)


def check_family(family: Any, rho: Any, F: Any, n_agents: int, n_goods: int) -> UtilityFamily:
    """``family`` with its own parameter only: ``rho`` for ``"ces"`` (in (0, 1]), ``F`` for
    ``"amdahl"`` (in (0, 1): a scalar, per good or per agent and good); ``"linear"`` takes
    neither (``rho = 1`` is accepted). A parameter of another family is an error, not ignored."""
    family = check_choice("family", family, FAMILIES)
    if family != "amdahl" and F is not None:
        raise InvalidArgumentError("F", F, f"None (F is Amdahl's parameter; family={family!r})")
    if family == "amdahl" and rho is not None:
        raise InvalidArgumentError("rho", rho, "None (rho is the CES parameter; family='amdahl')")
    if family == "linear":
        if rho is not None and check_real("rho", rho) != 1.0:
            raise InvalidArgumentError("rho", rho, "None or 1 (family='linear')")
        return make_family("linear")
    if family == "ces":
        rho = DEFAULT_RHO if rho is None else check_real("rho", rho, low=0.0, high=1.0,
                                                         low_open=True)
        return make_family("ces", rho=rho)
    try:
        return make_family("amdahl", F=DEFAULT_F if F is None else F, n_agents=n_agents,
                           n_goods=n_goods)
    except (ValueError, TypeError) as error:
        raise InvalidArgumentError("F", F, f"in (0, 1), a scalar, (m,) or (n, m) array ({error})"
                                   ) from None


class ExchangeBaseEnv(MarketEnv):
    """Base of :class:`ExchangeEconomyEnv` (traders) and :class:`ExchangeMechanismEnv`.

    Documented attributes (``env.unwrapped``): ``n_agents``, ``n_goods``, ``family`` (the
    :class:`~auction_envs.oracles.exchange.UtilityFamily`), ``family_params``, ``theta_range``,
    ``noise_std``, ``layout`` (the observation layout), ``endowments`` (exact, after reset),
    ``economy`` (the episode's :class:`Economy`, after reset), ``equilibrium()``, ``metrics()``.
    """

    metadata: ClassVar[dict[str, Any]] = {**MarketEnv.metadata, "name": "exchange_economy_v0"}

    def __init__(self, *, possible_agents: Sequence[str], n_agents: int, n_goods: int,
                 family: str, rho: Any, F: Any, theta: Any, endowments: Any, theta_range: Any,
                 noise_std: Any, max_cycles: int, render_mode: str | None,
                 action_policy: str) -> None:
        self.n_agents = n_agents
        self.n_goods = n_goods
        self.family = check_family(family, rho, F, n_agents, n_goods)
        self.family_name = family
        self.theta_range = check_range_pair("theta_range", theta_range, high=MAX_SCALE)
        if self.theta_range[0] <= 0:
            raise InvalidArgumentError("theta_range", theta_range,
                                       f"a pair (lo, hi), 0 < lo <= hi <= {MAX_SCALE:g}")
        shape = (n_agents, n_goods)
        self.fixed_theta = check_fixed("theta", theta, shape, columns_sum_to_one=False)
        self.fixed_endowments = check_fixed("endowments", endowments, shape, columns_sum_to_one=True)
        self.noise_std = check_real("noise_std", noise_std, low=0.0, high=MAX_SCALE)
        super().__init__(max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy, possible_agents=possible_agents)
        self.core: ExchangeCore | None = None  # built by reset

    # ------------------------------------------------------------------ episode
    def _new_core(self, prices: np.ndarray) -> ExchangeCore:
        economy = sample_economy(self.np_random, self.family, self.n_agents, self.n_goods,
                                 self.theta_range, self.fixed_theta, self.fixed_endowments)
        self.core = ExchangeCore(economy, self.noise_std, self.np_random, prices)
        return self.core

    @property
    def economy(self) -> Any:
        """This episode's :class:`~auction_envs.envs.exchange.economy.Economy` (after reset)."""
        self._require_reset("economy")
        return self.core.economy

    @property
    def endowments(self) -> np.ndarray:
        """This episode's endowments ``(n, m)``, exact (float64 copy; the observation holds them
        rounded to float32). Known to every agent and to the mechanism."""
        self._require_reset("endowments")
        return self.core.economy.endowments.copy()

    def equilibrium(self) -> tuple[np.ndarray, np.ndarray]:
        """The verified competitive equilibrium ``(allocation (n, m), prices (m,))`` of this
        episode's economy (``auction_envs.oracles.competitive_equilibrium``)."""
        self._require_reset("equilibrium")
        return self.core.ce_allocation.copy(), self.core.ce_prices.copy()

    def metrics(self) -> dict[str, Any]:
        """CE loss (last round, mean, cumulative), SI loss, distance to the CE prices and allocation,
        and the utilities of the last round beside the CE utilities."""
        self._require_reset("metrics")
        core = self.core
        if core.rounds == 0:
            return {"round": 0}
        return {
            "round": core.rounds,
            "ce_loss": core.last_ce_loss,
            "mean_ce_loss": core.ce_loss_sum / core.rounds,
            "cumulative_ce_loss": core.ce_loss_sum,
            "sharing_incentive_loss": core.economy.sharing_incentive_loss(core.allocation),
            "price_distance": float(np.abs(core.prices - core.ce_prices).sum()),
            "allocation_distance": float(np.abs(core.allocation - core.ce_allocation).max()),
            "utilities": core.economy.utilities(core.allocation),
            "ce_utilities": core.ce_utilities.copy(),
        }

    @property
    def family_params(self) -> dict[str, Any]:
        """The family's known parameters (``phi`` and ``f`` are known to the mechanism)."""
        if self.family.is_linear:
            return {"family": "linear"}
        if self.family.name == "ces":
            return {"family": "ces", "rho": self.family.rho}
        return {"family": "amdahl", "F": self.family.F}


def check_sizes(n_agents: Any, n_goods: Any) -> tuple[int, int]:
    """``2 <= n_agents <= MAX_AGENTS`` (an exchange needs two) and ``1 <= n_goods <= MAX_GOODS``."""
    return (check_int("n_agents", n_agents, low=2, high=MAX_AGENTS),
            check_int("n_goods", n_goods, low=1, high=MAX_GOODS))
