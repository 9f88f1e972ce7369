"""Algorithm 1 of paper 003 (learning a competitive equilibrium with bandit feedback), and the
greedy plug-in baseline that never explores.

The learner is the *mechanism* of ``auction_envs/ExchangeEconomyMechanism-v0``: every round it
outputs an allocation and prices (``encode_action``) and reads every agent's noisy utility report
(``infos["mechanism"]["reports"]``). It knows the family (``phi`` and ``f``), the endowments (in
the observation), the parameter box ``Theta = [low, high]^m`` and the noise level; ``theta`` is
unknown.

Per round ``t`` [paper, details reconstructed; [decision] where marked]:

1. initialization (``init_phases`` sub-phases of ``max(n, m)`` rounds): good ``j`` goes wholly
   to agent ``(r + j) mod n`` in round ``r`` of a sub-phase, so every agent gets every good wholly
   at least once per sub-phase (the design matrices become invertible); prices uniform [decision];
2. per agent ``i``: the quasi-likelihood estimate ``theta_hat_i`` (GLM, :mod:`agents.exchange.glm`)
   from ``(phi(x_i,s), y_i,s)``, projected onto ``Theta`` in the ``V_i``-norm
   (``V_i = sum_s phi_s phi_s^T``) to give ``theta_tilde_i``;
3. sample ``theta_i ~ N(theta_tilde_i, nu_t^2 V_i^{-1})`` and project onto ``Theta``; [decision]
   ``nu_t = nu_scale * (noise_std / kappa_i) * sqrt(m log(1 + t))`` with ``kappa_i`` the median
   link slope ``f'(theta_tilde_i^T phi_s)`` over the agent's data (1 for identity links), the
   paper's formula being lost in its text. ``nu_scale = 0.3`` by default, from a pilot (T = 1000,
   3 seeds, CES rho = 0.5 and 0.75) comparing 1, 0.3 and 0.1: at 1 the sampling noise itself
   dominated the CE loss (which is quadratic in the parameter error) for these horizons;
4. compute the CE of the sampled utilities by PRD (warm-started from the previous round's
   spending; ``prd_iterations`` at most, then the oracle's exact polish if PRD has not converged,
   which happens for near-linear utilities) and play it.

``GreedyCE`` (``sample=False``) plays the CE of ``theta_tilde`` itself: no exploration.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from agents.base import Transition, load_state, restore_rng, rng_state, save_state
from agents.exchange.glm import project_box, quasi_likelihood_estimate
from auction_envs.envs.exchange.mechanism import MECHANISM, encode_action
from auction_envs.oracles.exchange import (
    competitive_equilibrium,
    make_family,
    proportional_response_dynamics,
    verify_competitive_equilibrium,
)


@dataclass
class BanditCEConfig:
    """Hyper-parameters of Algorithm 1 (all in one place)."""

    init_phases: int = 1        #: initialization sub-phases (the paper's q)
    nu_scale: float = 0.3       #: multiplies the sampling scale nu_t [decision, see module doc]
    noise_std: float = 0.05     #: sub-Gaussian noise level sigma (known to the mechanism)
    theta_low: float = 0.1      #: parameter box Theta = [theta_low, theta_high]^m
    theta_high: float = 1.0
    prd_iterations: int = 300   #: PRD iterations for the sampled CE (warm-started)
    prd_tol: float = 1e-10
    ce_tol: float = 1e-7        #: verification tolerance of the sampled CE (else exact polish)
    sample: bool = True         #: False: the greedy plug-in baseline


class BanditCE:
    """Algorithm 1 as a joint :class:`agents.base.Learner` for the mechanism agent.

    Args:
        n_agents, n_goods: the economy's size.
        family: ``"ces"``, ``"linear"`` or ``"amdahl"`` with ``rho`` / ``F`` (known ``phi``, ``f``).
        config: :class:`BanditCEConfig`.
        seed: seeds the sampling generator.

    Build it for an env with :meth:`from_env`.
    """

    def __init__(self, n_agents: int, n_goods: int, family: str = "ces", *,
                 rho: float | None = None, F: Any = None, config: BanditCEConfig | None = None,
                 seed: int | None = None) -> None:
        self.n, self.m = int(n_agents), int(n_goods)
        self.family = make_family(family, rho=rho, F=F, n_agents=self.n, n_goods=self.m)
        self.config = config or BanditCEConfig()
        self.rng = np.random.default_rng(seed)
        self.reset_data()

    @classmethod
    def from_env(cls, env: Any, config: BanditCEConfig | None = None, seed: int | None = None,
                 **overrides: Any) -> BanditCE:
        """A learner for a mechanism env: its size, family, parameter box and noise level."""
        market = env.unwrapped
        params = dict(market.family_params)
        family = params.pop("family")
        low, high = market.theta_range
        config = config or BanditCEConfig(noise_std=market.noise_std, theta_low=low,
                                          theta_high=high, **overrides)
        return cls(market.n_agents, market.n_goods, family, config=config, seed=seed, **params)

    # ------------------------------------------------------------------ state
    def reset_data(self) -> None:
        """Forget everything learned (a new economy)."""
        self.t = 0
        self.features = np.zeros((self.n, 0, self.m))
        self.rewards = np.zeros((self.n, 0))
        self.gram = np.zeros((self.n, self.m, self.m))
        mid = 0.5 * (self.config.theta_low + self.config.theta_high)
        self.theta_hat = np.full((self.n, self.m), mid)
        self.theta_tilde = self.theta_hat.copy()
        self.theta_played = self.theta_hat.copy()
        self.spending: np.ndarray | None = None
        self._pending: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def init_rounds(self) -> int:
        return self.config.init_phases * max(self.n, self.m)

    # ------------------------------------------------------------------ acting
    def act(self, observations: dict[str, np.ndarray], explore: bool = True) -> dict[str, np.ndarray]:
        observation = np.asarray(observations[MECHANISM], dtype=np.float64)
        n, m = self.n, self.m
        endowments = observation[n * m + m + n:n * m + m + n + n * m].reshape(n, m)
        endowments = endowments / endowments.sum(axis=0, keepdims=True)
        if self.t < self.init_rounds:
            allocation, prices = self._initialization_allocation(self.t), np.full(m, 1.0 / m)
        else:
            theta = self._sample_parameters(explore)
            self.theta_played = theta
            allocation, prices = self._equilibrium(theta, endowments)
        self._pending = (allocation, prices)
        return {MECHANISM: encode_action(allocation, prices)}

    def _equilibrium(self, theta: np.ndarray, endowments: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The CE of the sampled utilities: warm-started PRD, checked by the oracle's verification
        (``ce_tol``); if it fails (PRD not converged within ``prd_iterations`` for near-linear
        utilities, or stalled on a boundary fixed point: a good whose spending vanished under the
        previous round's parameters is never bought again by the x s'(x) rule), the oracle's exact
        polish (Newton on the excess demand) finishes the job, so that the CE loss measures
        learning and not an unconverged subroutine."""
        cfg = self.config
        result = proportional_response_dynamics(theta, endowments, self.family,
                                                max_iter=cfg.prd_iterations, tol=cfg.prd_tol,
                                                spending=self.spending)
        self.spending = result.spending
        if verify_competitive_equilibrium(result.allocation, result.prices, theta, endowments,
                                          self.family, tol=cfg.ce_tol).ok:
            return result.allocation, result.prices
        allocation, prices, spending = competitive_equilibrium(
            theta, endowments, self.family, verify=False, prd_iterations=1, tol=cfg.prd_tol,
            spending=result.spending, return_spending=True)
        if np.all(np.isfinite(spending)) and np.all(spending.sum(axis=0) > 0):
            # keep every bid positive so that the next warm start can reach any support
            self.spending = 0.999 * spending + 0.001 * spending.sum() / spending.size
        return allocation, prices

    def _initialization_allocation(self, t: int) -> np.ndarray:
        n, m = self.n, self.m
        r = t % max(n, m)
        allocation = np.zeros((n, m))
        for j in range(m):
            agent = (r + j) % max(n, m)
            if agent < n:
                allocation[agent, j] = 1.0
            else:  # more goods than agents: split the leftover good equally [decision]
                allocation[:, j] = 1.0 / n
        return allocation

    def _sample_parameters(self, explore: bool) -> np.ndarray:
        cfg = self.config
        theta = np.empty((self.n, self.m))
        for i in range(self.n):
            gram = self.gram[i] + 1e-9 * np.eye(self.m)
            if not (cfg.sample and explore):
                theta[i] = self.theta_tilde[i]
                continue
            nu = cfg.nu_scale * cfg.noise_std / self._kappa(i) * np.sqrt(
                self.m * np.log(1.0 + self.t))
            cov = nu ** 2 * np.linalg.inv(gram)
            draw = self.rng.multivariate_normal(self.theta_tilde[i], 0.5 * (cov + cov.T),
                                                method="cholesky")
            theta[i] = project_box(draw, gram, cfg.theta_low, cfg.theta_high)
        return theta

    def _kappa(self, i: int) -> float:
        if self.family.name != "ces" or self.family.rho == 1.0 or self.features.shape[1] == 0:
            return 1.0
        z = self.features[i] @ self.theta_tilde[i]
        return float(max(np.median(self.family.link_derivative(np.maximum(z, 1e-12))), 1e-3))

    # ------------------------------------------------------------------ learning
    def observe(self, transition: Transition) -> None:
        info = transition.infos.get(MECHANISM, {})
        reports = np.asarray(info["reports"], dtype=np.float64)
        allocation = np.asarray(info.get("allocation", self._pending[0]), dtype=np.float64)
        phi = np.stack([self.family.phi(allocation[i], i) for i in range(self.n)])  # (n, m)
        self.features = np.concatenate([self.features, phi[:, None, :]], axis=1)
        self.rewards = np.concatenate([self.rewards, reports[:, None]], axis=1)
        self.gram += phi[:, :, None] * phi[:, None, :]
        self.t += 1
        if self.t >= self.init_rounds:
            self._estimate()

    def _estimate(self) -> None:
        cfg = self.config
        for i in range(self.n):
            self.theta_hat[i] = quasi_likelihood_estimate(self.features[i], self.rewards[i],
                                                          self.family, self.theta_hat[i])
            self.theta_tilde[i] = project_box(self.theta_hat[i], self.gram[i] + 1e-9 * np.eye(self.m),
                                              cfg.theta_low, cfg.theta_high)

    def update(self) -> dict[str, float]:
        return {"round": float(self.t)}

    def end_episode(self) -> None:
        """A new episode is a new economy: forget the data (the RNG stream continues)."""
        self.reset_data()

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "t": self.t,
            "features": self.features.copy(),
            "rewards": self.rewards.copy(),
            "gram": self.gram.copy(),
            "theta_hat": self.theta_hat.copy(),
            "theta_tilde": self.theta_tilde.copy(),
            "spending": np.zeros((0, 0)) if self.spending is None else self.spending.copy(),
            "rng": rng_state(self.rng),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.config = BanditCEConfig(**state["config"])
        self.t = int(state["t"])
        self.features = np.asarray(state["features"], dtype=np.float64).reshape(self.n, -1, self.m)
        self.rewards = np.asarray(state["rewards"], dtype=np.float64).reshape(self.n, -1)
        self.gram = np.asarray(state["gram"], dtype=np.float64)
        self.theta_hat = np.asarray(state["theta_hat"], dtype=np.float64)
        self.theta_tilde = np.asarray(state["theta_tilde"], dtype=np.float64)
        spending = np.asarray(state["spending"], dtype=np.float64)
        self.spending = spending if spending.size else None
        self.rng = restore_rng(state["rng"])

    def save(self, path: str | os.PathLike[str]) -> None:
        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        self.load_state_dict(load_state(path))


class GreedyCE(BanditCE):
    """The greedy plug-in baseline: Algorithm 1 without the sampling step (plays the CE of the
    projected estimate ``theta_tilde``), to show what exploration buys."""

    def __init__(self, n_agents: int, n_goods: int, family: str = "ces", *,
                 rho: float | None = None, F: Any = None, config: BanditCEConfig | None = None,
                 seed: int | None = None) -> None:
        config = config or BanditCEConfig()
        config.sample = False
        super().__init__(n_agents, n_goods, family, rho=rho, F=F, config=config, seed=seed)

    @classmethod
    def from_env(cls, env: Any, config: BanditCEConfig | None = None, seed: int | None = None,
                 **overrides: Any) -> GreedyCE:
        overrides["sample"] = False
        learner = super().from_env(env, config, seed, **overrides)
        learner.config.sample = False
        return learner  # type: ignore[return-value]
