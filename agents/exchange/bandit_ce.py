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
from agents.exchange.glm import project_box_rows, quasi_likelihood_estimate
from auction_envs.oracles.exchange import (
    competitive_equilibrium,
    make_family,
)


@dataclass
class BanditCEConfig:
    """Hyper-parameters of Algorithm 1 (all in one place)."""

    init_phases: int = 1        #: initialization sub-phases (the paper's q)
    nu_scale: float = 0.3       #: multiplies the sampling scale nu_t [decision, see module doc]
    noise_std: float = 0.05     #: sub-Gaussian noise level sigma (known to the mechanism)
    theta_low: float = 0.1      #: parameter box Theta = [theta_low, theta_high]^m
    theta_high: float = 1.0
    prd_iterations: int = 5     #: PRD iterations before the exact polish (warm-started)
    prd_tol: float = 1e-10
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
        #: returns the economy's exact endowments (set by :meth:`from_env`); None: read them off
        #: the observation
        self.endowments_source: Any = None
        self.agent = "mechanism"  #: the env's mechanism agent id (from_env reads it)
        #: allocation, prices -> action (from_env: the env's ``encode_action``; else the
        #: documented encoding, allocation row-major then prices)
        self.encode_action: Any = lambda x, p: np.concatenate([np.ravel(x), p])
        self.reset_data()

    @classmethod
    def from_env(cls, env: Any, config: BanditCEConfig | None = None, seed: int | None = None,
                 **overrides: Any) -> BanditCE:
        """A learner for a mechanism env: its size, family, parameter box and noise level; it
        reads the endowments exactly (float64) from ``env.unwrapped.endowments`` every round,
        not from the float32 observation (whose rounding left a CE-loss floor of about 1e-8)."""
        market = env.unwrapped
        params = dict(market.family_params)
        family = params.pop("family")
        low, high = market.theta_range
        config = config or BanditCEConfig(noise_std=market.noise_std, theta_low=low,
                                          theta_high=high, **overrides)
        learner = cls(market.n_agents, market.n_goods, family, config=config, seed=seed, **params)
        learner.endowments_source = lambda: market.endowments
        learner.agent = market.possible_agents[0]
        learner.encode_action = market.encode_action
        return learner

    # ------------------------------------------------------------------ state
    def reset_data(self) -> None:
        """Forget everything learned (a new economy)."""
        self.t = 0
        self._features = np.zeros((self.n, 64, self.m))  # capacity doubles as data arrive
        self._rewards = np.zeros((self.n, 64))
        self.gram = np.zeros((self.n, self.m, self.m))
        self.phi_y = np.zeros((self.n, self.m))  # sum_s phi_s y_s (least squares, identity link)
        mid = 0.5 * (self.config.theta_low + self.config.theta_high)
        self.theta_hat = np.full((self.n, self.m), mid)
        self.theta_tilde = self.theta_hat.copy()
        self.theta_played = self.theta_hat.copy()
        self.spending: np.ndarray | None = None
        self._pending: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def features(self) -> np.ndarray:
        """``phi(x_i,s)`` of every round so far, ``(n, t, m)``."""
        return self._features[:, :self.t]

    @property
    def rewards(self) -> np.ndarray:
        """The reports ``y_i,s`` so far, ``(n, t)``."""
        return self._rewards[:, :self.t]

    @property
    def init_rounds(self) -> int:
        return self.config.init_phases * max(self.n, self.m)

    # ------------------------------------------------------------------ acting
    def _endowments(self) -> np.ndarray:
        if self.endowments_source is None:
            raise RuntimeError("BanditCE needs the economy's endowments: build it with "
                               "BanditCE.from_env(env) or set endowments_source")
        return np.asarray(self.endowments_source(), dtype=np.float64)

    def act(self, observations: dict[str, np.ndarray], explore: bool = True) -> dict[str, np.ndarray]:
        endowments = self._endowments()
        m = self.m
        if self.t < self.init_rounds:
            allocation, prices = self._initialization_allocation(self.t), np.full(m, 1.0 / m)
        else:
            theta = self._sample_parameters(explore)
            self.theta_played = theta
            allocation, prices = self._equilibrium(theta, endowments)
        self._pending = (allocation, prices)
        return {self.agent: self.encode_action(allocation, prices)}

    def _equilibrium(self, theta: np.ndarray, endowments: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The CE of the sampled utilities: ``prd_iterations`` of PRD warm-started from the last
        round's spending, then the oracle's exact polish (Newton on the excess demand in
        log-prices; an LP for linear utilities), so that the CE loss measures learning and not an
        unconverged subroutine. Bids are kept positive so the next warm start can reach any
        support (PRD never revives a good whose spending vanished)."""
        cfg = self.config
        allocation, prices, spending = competitive_equilibrium(
            theta, endowments, self.family, verify=False, prd_iterations=cfg.prd_iterations,
            tol=cfg.prd_tol, spending=self.spending, return_spending=True)
        if np.all(np.isfinite(spending)) and np.all(spending.sum(axis=0) > 0):
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
        """``theta_i ~ N(theta_tilde_i, nu_i^2 V_i^-1)`` projected onto the box, drawn as
        ``theta_tilde_i + nu_i L_i^-T z`` with ``V_i = L_i L_i^T`` (``nu_i = 0``, e.g. a noiseless
        economy, plays ``theta_tilde`` itself)."""
        cfg = self.config
        if not (cfg.sample and explore):
            return self.theta_tilde.copy()
        gram = self.gram + 1e-9 * np.eye(self.m)
        nu = cfg.nu_scale * cfg.noise_std / self._kappa() * np.sqrt(self.m * np.log(1.0 + self.t))
        z = self.rng.standard_normal((self.n, self.m))
        lower = np.linalg.cholesky(gram)
        offsets = np.linalg.solve(np.swapaxes(lower, -1, -2), z[..., None])[..., 0]
        draws = self.theta_tilde + nu[:, None] * offsets
        return project_box_rows(draws, gram, cfg.theta_low, cfg.theta_high)

    def _kappa(self) -> np.ndarray:
        """Per agent, the median link slope ``f'(theta_tilde_i^T phi_s)`` over her data (1 for
        identity links), at least 1e-3."""
        if self.family.name != "ces" or self.family.rho == 1.0 or self.t == 0:
            return np.ones(self.n)
        z = (self.features @ self.theta_tilde[..., None])[..., 0]
        slopes = np.median(self.family.link_derivative(np.maximum(z, 1e-12)), axis=-1)
        return np.maximum(slopes, 1e-3)

    # ------------------------------------------------------------------ learning
    def observe(self, transition: Transition) -> None:
        info = transition.infos.get(self.agent, {})
        reports = np.asarray(info["reports"], dtype=np.float64)
        allocation = np.asarray(info.get("allocation", self._pending[0]), dtype=np.float64)
        phi = self.family.phi(allocation)  # (n, m), per agent's row
        if self.t == self._features.shape[1]:
            self._features = np.concatenate([self._features, np.zeros_like(self._features)], axis=1)
            self._rewards = np.concatenate([self._rewards, np.zeros_like(self._rewards)], axis=1)
        self._features[:, self.t] = phi
        self._rewards[:, self.t] = reports
        self.gram += phi[:, :, None] * phi[:, None, :]
        self.phi_y += phi * reports[:, None]
        self.t += 1
        if self.t >= self.init_rounds:
            self._estimate()

    def _estimate(self) -> None:
        cfg = self.config
        gram = self.gram + 1e-9 * np.eye(self.m)
        if self.family.name != "ces" or self.family.rho == 1.0:  # least squares, running sums
            self.theta_hat = np.linalg.solve(self.gram + 1e-8 * np.eye(self.m),
                                             self.phi_y[..., None])[..., 0]
        else:
            self.theta_hat = quasi_likelihood_estimate(self.features, self.rewards, self.family,
                                                       self.theta_hat)
        self.theta_tilde = project_box_rows(self.theta_hat, gram, cfg.theta_low, cfg.theta_high)

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
            "phi_y": self.phi_y.copy(),
            "theta_hat": self.theta_hat.copy(),
            "theta_tilde": self.theta_tilde.copy(),
            "spending": np.zeros((0, 0)) if self.spending is None else self.spending.copy(),
            "rng": rng_state(self.rng),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.config = BanditCEConfig(**state["config"])
        self.t = int(state["t"])
        features = np.asarray(state["features"], dtype=np.float64).reshape(self.n, -1, self.m)
        rewards = np.asarray(state["rewards"], dtype=np.float64).reshape(self.n, -1)
        capacity = max(64, features.shape[1])
        self._features = np.zeros((self.n, capacity, self.m))
        self._rewards = np.zeros((self.n, capacity))
        self._features[:, :self.t] = features
        self._rewards[:, :self.t] = rewards
        self.phi_y = np.asarray(state["phi_y"], dtype=np.float64).reshape(self.n, self.m)
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
