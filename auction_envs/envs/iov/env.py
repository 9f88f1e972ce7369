"""IoV resource slicing with the dual-currency VCG auction and a bank (paper 002, MARKETS §3)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from auction_envs.core import InvalidArgumentError, MarketEnv
from auction_envs.envs.iov.bank import Bank
from auction_envs.mechanisms.vcg import (
    clarke_payments,
    dvcg_perturbation,
    dvcg_tax,
    information_per_round,
)
from auction_envs.oracles.slicing import (
    qvcg_allocation_dp,
    qvcg_tables,
    slicing_utility,
    slicing_welfare_optimum,
    slicing_welfare_without,
)

K = 3  # bandwidth, compute, cache
SLICE_LEVELS = np.array([-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3])
MECHANISMS = ("dvcg", "qvcg", "vcg")
TAXES = ("dvcg", "nvi")
ALLOCATORS = ("optimum", "learned")
REWARDS = ("bids", "welfare")
ESTIMATORS = ("exact", "noisy")
VSP_FIELDS = ("bid", "loan", "tax", "externality", "interest", "profit", "utility", "voi",
              "pool", "alpha_hat", "delta", "progress", "needs_action")
SLICER_FIELDS = ("s0", "s1", "s2", "others0", "others1", "others2", "reward", "progress",
                 "needs_action")

# Solves keyed by the exact instance bytes: with the exact estimator every round of an episode
# (and every replay of it) reuses one optimum and its N Clarke pivots.
_CACHE: OrderedDict[bytes, Any] = OrderedDict()


def _cached(key: bytes, compute: Any) -> Any:
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = compute()
    _CACHE[key] = value
    if len(_CACHE) > 64:
        _CACHE.popitem(last=False)
    return value


def _optimum_and_pivots(beta: np.ndarray, xi: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    def compute() -> tuple[np.ndarray, float, np.ndarray]:
        s, welfare = slicing_welfare_optimum(beta, xi)
        return s, welfare, slicing_welfare_without(beta, xi, s)

    return _cached(b"opt" + beta.tobytes() + xi.tobytes(), compute)


class IoVSlicingEnv(MarketEnv):
    """Network slicing for vehicle service providers (VSPs), sold by a VCG-type auction.

    ## Description
    ``n_vsps`` VSPs share three normalized resources (bandwidth, compute, cache; ``sum_i s_ik <= 1``)
    of one network provider (NSP). VSP ``i``'s utility is ``u_i(s) = beta_i (1 - exp(-xi_i . s))``
    (``beta_i ~ U(100, 200)``, ``xi_ik ~ U(0, 10)``, paper (39)); its gross profit is
    ``G_i = alpha_i U_i + w_i`` (paper (5)). Values are drawn at ``reset`` from the env's generator.

    ## Mechanism (``mechanism="dvcg"``, paper (12)-(20))
    Each round: (1) the bank issues the pool ``F_P = sum_i f_i`` (its value-of-information
    estimates); (2) VSPs bid ``x_i`` in VC and borrow ``K_i = F_P x_i / sum_j x_j``; (3) the NSP
    allocates ``s*`` (the exact optimum under the bank's ``theta-hat``, or the slicing agents'
    allocation with ``allocator="learned"``) and perturbs it,
    ``s~ = norm(s* + N(0, Delta^2 I))``, ``Delta = max(sum_i x_i - SW*, 0) / N`` (15)-(16);
    (4) externality ``I_i = SW*_{-i} - sum_{j!=i} u_j(s~_j; theta-hat)`` (17) and tax
    ``Z_i = alpha-hat_i (I_i + |K_i - U*_i|)`` (18) (``tax="nvi"``: no interest term);
    (5) profit ``P_i = alpha_i u_i(s~_i) + w_i - Z_i``; the bank appends the bill and re-estimates
    (``auction_envs.envs.iov.bank``).

    ``mechanism="vcg"``: plain VCG with full information; ``mechanism="qvcg"``: QVCG (Ge & Berry)
    with quantization ``M``. In both, the bid is a report of the utility function scaled by
    ``x_i / x*_i`` (``x*_i = u_i(s*_i)``, the truthful bid) [decision: one scalar per VSP keeps one
    action space for every mechanism]; the Clarke payment ``p_i`` (in utility units) is charged at
    the VSP's own rate: ``P_i = alpha_i (u_i(s_i) - p_i) + w_i`` [decision: the paper's QVCG bidders
    know alpha]. QVCG reports are exchanged once (paper §VI): the first round's bids fix the
    reports for the episode; later bid actions are ignored (``needs_action = 0``).

    [decision] ``norm``: negative shares are clipped to 0, then every resource whose total exceeds
    1 is divided by its total. The perturbation noise comes from the env's generator.

    ## Agents and Action Space
    * ``vsp_i``: ``Box(0, bid_high, (1,), float32)``, the bid in VC (``bid_high = 2 beta_high``).
    * ``slicer_i`` (only ``allocator="learned"``): ``MultiDiscrete([7, 7, 7])``, the relative change
      of VSP ``i``'s slice per resource, levels ``[-0.3, ..., 0.3]`` (index 3 = no change);
      applied multiplicatively to the last slice, then every resource is renormalized to total 1
      [decision].

    ## Observation Space
    ``vsp_i``: ``Box(float32, (13,))``, the last round as seen by VSP ``i``:
    ``[bid, loan, tax, externality, interest, profit, utility, voi f_i, pool F_P, alpha_hat_i,
    Delta, progress t/T, needs_action]``. ``slicer_i``: ``Box(float32, (9,))``:
    ``[own slice (3), mean slice of the others (3), last slicer reward, progress, needs_action]``.
    All zeros except ``voi``, ``pool``, ``alpha_hat``, slices and ``needs_action`` after reset.

    ## Rewards
    ``vsp_i``: its profit ``P_i`` (VSPs in ``colluders`` all receive the coalition's total).
    ``slicer_i``: ``sum_i x_i`` (``slicer_reward="bids"``, paper (27)) or the true welfare of the
    perturbed allocation (``"welfare"``), identical for every slicer.

    ## Infos
    Per ``vsp_i``: ``bid``, ``truthful_bid`` (``u_i(s*_i)`` with the true theta at the true
    optimum), ``loan``, ``externality``, ``interest``, ``tax``, ``payment`` (vcg/qvcg),
    ``profit``, ``utility``, ``allocation`` (3,). Per ``slicer_i``: ``allocation``, ``welfare``.

    ## Starting State
    Values, alpha and the bank's priors are drawn at reset; slices start uniform ``1/N``.

    ## Episode End
    Truncation after ``max_cycles`` rounds (500, the paper's evaluation). Never terminates.

    ## Reference solution
    ``equilibrium()`` returns the truthful bids ``x*_i = u_i(s*_i)`` (a dominant strategy under
    DVCG with an unbiased bank) and the exact optimum (``auction_envs.oracles.slicing``).
    ``metrics()``: welfare, efficiency against the optimum, profits, taxes, loans, information
    exchanged per round (floats), and :meth:`bidder_nash_conv` on request.

    ## Arguments
    * ``n_vsps`` (10; 1..50 checked for speed up to 50), ``mechanism`` ("dvcg"), ``tax``
      ("dvcg" | "nvi"), ``allocator`` ("optimum" | "learned"), ``slicer_reward`` ("bids" |
      "welfare"), ``M`` (20; QVCG quantization), ``colluders`` (a set of VSP indices sharing
      their reward; empty).
    * ``beta_range`` ((100, 200)), ``xi_range`` ((0, 10)), ``alpha_range`` ((0.5, 1.5)): alpha_i
      ~ U(alpha_range) [decision], ``noise_mean`` (0) and ``noise_std`` (5) of ``w_i`` [decision].
    * ``theta_estimator`` ("exact" | "noisy"), ``theta_noise`` (0.2), ``alpha_prior`` (1.0): the
      bank's estimators (``auction_envs.envs.iov.bank``).
    * ``max_cycles`` (500), ``render_mode``, ``action_policy`` (see ``MarketEnv``).

    ## Version History
    * v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {**MarketEnv.metadata, "name": "iov_slicing_v0"}

    def __init__(
        self,
        n_vsps: int = 10,
        mechanism: str = "dvcg",
        tax: str = "dvcg",
        allocator: str = "optimum",
        slicer_reward: str = "bids",
        M: int = 20,
        colluders: Any = (),
        beta_range: tuple[float, float] = (100.0, 200.0),
        xi_range: tuple[float, float] = (0.0, 10.0),
        alpha_range: tuple[float, float] = (0.5, 1.5),
        noise_mean: float = 0.0,
        noise_std: float = 5.0,
        theta_estimator: str = "exact",
        theta_noise: float = 0.2,
        alpha_prior: float = 1.0,
        max_cycles: int = 500,
        render_mode: str | None = None,
        action_policy: str = "raise",
    ) -> None:
        if not isinstance(n_vsps, (int, np.integer)) or isinstance(n_vsps, bool) or n_vsps < 1:
            raise InvalidArgumentError("n_vsps", n_vsps, "a positive integer")
        for name, value, options in (("mechanism", mechanism, MECHANISMS), ("tax", tax, TAXES),
                                     ("allocator", allocator, ALLOCATORS),
                                     ("slicer_reward", slicer_reward, REWARDS),
                                     ("theta_estimator", theta_estimator, ESTIMATORS)):
            if value not in options:
                raise InvalidArgumentError(name, value, f"one of {options}")
        if allocator == "learned" and mechanism != "dvcg":
            raise InvalidArgumentError("allocator", allocator, "'optimum' unless mechanism='dvcg'")
        if not isinstance(M, (int, np.integer)) or isinstance(M, bool) or M < 1:
            raise InvalidArgumentError("M", M, "a positive integer")
        for name, pair, low in (("beta_range", beta_range, 0.0), ("xi_range", xi_range, 0.0),
                                ("alpha_range", alpha_range, 0.0)):
            arr = np.asarray(pair, dtype=np.float64)
            if arr.shape != (2,) or not np.all(np.isfinite(arr)) or arr[0] > arr[1] \
                    or arr[0] < low or (name != "xi_range" and arr[0] <= 0):
                raise InvalidArgumentError(name, pair, f"(low, high) with {low} <= low <= high")
        for name, value in (("noise_std", noise_std), ("theta_noise", theta_noise)):
            if not (np.isscalar(value) and np.isfinite(value) and value >= 0):
                raise InvalidArgumentError(name, value, "a finite number >= 0")
        if not (np.isscalar(noise_mean) and np.isfinite(noise_mean)):
            raise InvalidArgumentError("noise_mean", noise_mean, "a finite number")
        if not (np.isscalar(alpha_prior) and np.isfinite(alpha_prior) and alpha_prior > 0):
            raise InvalidArgumentError("alpha_prior", alpha_prior, "a finite number > 0")
        try:
            coalition = sorted({int(c) for c in colluders})
        except (TypeError, ValueError):
            raise InvalidArgumentError("colluders", colluders, "a set of VSP indices") from None
        if any(c < 0 or c >= n_vsps for c in coalition):
            raise InvalidArgumentError("colluders", colluders, f"indices in [0, {n_vsps})")
        self.n_vsps = int(n_vsps)
        self.mechanism, self.tax, self.allocator = mechanism, tax, allocator
        self.slicer_reward, self.M, self.colluders = slicer_reward, int(M), tuple(coalition)
        self.beta_range, self.xi_range = tuple(map(float, beta_range)), tuple(map(float, xi_range))
        self.alpha_range = tuple(map(float, alpha_range))
        self.noise_mean, self.noise_std = float(noise_mean), float(noise_std)
        self.theta_estimator, self.theta_noise = theta_estimator, float(theta_noise)
        self.alpha_prior = float(alpha_prior)
        self.vsps = [f"vsp_{i}" for i in range(self.n_vsps)]
        self.slicers = [f"slicer_{i}" for i in range(self.n_vsps)] if allocator == "learned" else []
        self.possible_agents = self.vsps + self.slicers
        super().__init__(max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy)
        self.bid_high = 2.0 * self.beta_range[1]
        obs = {a: spaces.Box(-np.inf, np.inf, (len(VSP_FIELDS),), np.float32) for a in self.vsps}
        obs.update({a: spaces.Box(-np.inf, np.inf, (len(SLICER_FIELDS),), np.float32)
                    for a in self.slicers})
        act = {a: spaces.Box(np.float32(0.0), np.float32(self.bid_high), (1,), np.float32)
               for a in self.vsps}
        act.update({a: spaces.MultiDiscrete([len(SLICE_LEVELS)] * K) for a in self.slicers})
        n = self.n_vsps
        self._set_spaces(obs, act, spaces.Box(-np.inf, np.inf, (K * n + n + 1,), np.float32))
        self._reset_values(np.random.default_rng(0))

    # ------------------------------------------------------------------ episode
    def _reset_values(self, rng: np.random.Generator) -> None:
        n = self.n_vsps
        self.beta = rng.uniform(*self.beta_range, n)
        self.xi = rng.uniform(*self.xi_range, (n, K))
        self.alpha = rng.uniform(*self.alpha_range, n)
        self.bank = Bank(n, self.alpha_prior, self.theta_estimator, self.theta_noise)
        self.s_true, self.w_true, self.w_without = _optimum_and_pivots(self.beta, self.xi)
        self.x_truthful = slicing_utility(self.s_true, self.beta, self.xi)
        self.bank.voi_prior = self.x_truthful.copy()
        self.slices = np.full((n, K), 1.0 / n)
        self.vsp_obs = np.zeros((n, len(VSP_FIELDS)))
        self.slicer_last_reward = 0.0
        self.qvcg_outcome: tuple | None = None
        self.totals = {key: np.zeros(n) for key in ("profit", "tax", "loan", "utility")}
        self.welfare_sum = 0.0
        self.last: dict[str, Any] = {}

    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self._reset_values(self.np_random)
        self._refresh_observation_fields()
        return {agent: {} for agent in self.possible_agents}

    def _refresh_observation_fields(self) -> None:
        f = self.bank.voi()
        self.vsp_obs[:, VSP_FIELDS.index("voi")] = f
        self.vsp_obs[:, VSP_FIELDS.index("pool")] = f.sum()
        self.vsp_obs[:, VSP_FIELDS.index("alpha_hat")] = self.bank.alpha_hat
        self.vsp_obs[:, VSP_FIELDS.index("progress")] = self.num_cycles / self.max_cycles
        needs = 0.0 if (self.mechanism == "qvcg" and self.qvcg_outcome is not None) else 1.0
        self.vsp_obs[:, VSP_FIELDS.index("needs_action")] = needs

    # ------------------------------------------------------------------ one round
    def _norm(self, s: np.ndarray) -> np.ndarray:
        s = np.maximum(s, 0.0)
        total = s.sum(axis=0)
        return s / np.maximum(total, 1.0)

    def _step_market(self, actions: dict[str, np.ndarray]
                     ) -> tuple[dict[str, float], dict[str, dict[str, Any]], bool]:
        n = self.n_vsps
        rng = self.np_random
        bids = np.array([float(actions[a][0]) for a in self.vsps])
        w = self.noise_mean + self.noise_std * rng.standard_normal(n)
        zeros = np.zeros(n)
        loan = interest = externality = payment = zeros
        delta = 0.0
        if self.mechanism == "dvcg":
            beta_hat, xi_hat = self.bank.theta_hat(self.beta, self.xi, rng)
            s_opt, sw_opt, sw_without = _optimum_and_pivots(beta_hat, xi_hat)
            pool = float(self.bank.voi().sum())
            loan = self.bank.loans(pool, bids)
            if self.allocator == "learned":
                change = np.stack([SLICE_LEVELS[np.asarray(actions[a], dtype=np.int64)]
                                   for a in self.slicers])
                s_star = self.slices * (1.0 + change)
                s_star = s_star / s_star.sum(axis=0, keepdims=True)
                sw_star = float(slicing_utility(s_star, beta_hat, xi_hat).sum())
            else:
                s_star, sw_star = s_opt, sw_opt
            s_tilde, delta = dvcg_perturbation(s_star, bids, sw_star, rng, self._norm)
            u_hat_tilde = slicing_utility(s_tilde, beta_hat, xi_hat)
            u_star = slicing_utility(s_star, beta_hat, xi_hat)
            externality = sw_without - (u_hat_tilde.sum() - u_hat_tilde)
            tax, interest = dvcg_tax(self.bank.alpha_hat, externality, loan, u_star,
                                     interest=self.tax == "dvcg")
            allocation = s_tilde
            utility = slicing_utility(allocation, self.beta, self.xi)
            profit = self.alpha * utility + w - tax
        else:
            # [decision] a zero bid reports a utility scaled by 1e-6 (the programs need beta > 0)
            scale = np.maximum(bids / self.x_truthful, 1e-6)
            if self.mechanism == "vcg":
                reported = scale * self.beta
                allocation, _, without = _optimum_and_pivots(reported, self.xi)
                values = slicing_utility(allocation, reported, self.xi)
            else:
                if self.qvcg_outcome is None:
                    self.qvcg_outcome = self._qvcg(scale)
                allocation, values, without = self.qvcg_outcome
            payment = clarke_payments(without, values)
            utility = slicing_utility(allocation, self.beta, self.xi)
            tax = self.alpha * payment
            profit = self.alpha * utility + w - tax
        gross = self.alpha * utility + w
        self.bank.record({"allocation": allocation, "bids": bids, "loans": loan,
                          "externality": externality, "utility": utility,
                          "gross_profit": gross})
        welfare = float(utility.sum())
        reward = profit.copy()
        if self.colluders:
            reward[list(self.colluders)] = profit[list(self.colluders)].sum()
        slicer_reward = float(bids.sum()) if self.slicer_reward == "bids" else welfare
        self.slicer_last_reward = slicer_reward
        self.slices = allocation.copy() if self.allocator == "learned" else allocation
        if self.allocator == "learned":  # a slicer needs a positive share to move multiplicatively
            self.slices = np.maximum(self.slices, 1e-6)
            self.slices /= np.maximum(self.slices.sum(axis=0, keepdims=True), 1.0)
        columns = (bids, loan, tax, externality, interest, profit, utility)
        self.vsp_obs[:, :7] = np.column_stack(columns)
        self.vsp_obs[:, VSP_FIELDS.index("delta")] = delta
        for key, value in (("profit", profit), ("tax", tax), ("loan", loan),
                           ("utility", utility)):
            self.totals[key] += value
        self.welfare_sum += welfare
        self.last = {"bids": bids, "allocation": allocation, "welfare": welfare, "profit": profit,
                     "tax": tax, "loan": loan, "delta": delta, "payment": payment}
        # observation fields for the next round (num_cycles is incremented after this hook)
        self.num_cycles += 1
        self._refresh_observation_fields()
        self.num_cycles -= 1
        rewards = dict(zip(self.vsps, reward.tolist()))
        rewards.update(dict.fromkeys(self.slicers, slicer_reward))
        infos: dict[str, dict[str, Any]] = {
            a: {"bid": bids[i], "truthful_bid": self.x_truthful[i], "loan": loan[i],
                "externality": externality[i], "interest": interest[i], "tax": tax[i],
                "payment": payment[i], "profit": profit[i], "utility": utility[i],
                "allocation": allocation[i].copy()}
            for i, a in enumerate(self.vsps)
        }
        infos.update({a: {"allocation": allocation[i].copy(), "welfare": welfare}
                      for i, a in enumerate(self.slicers)})
        return rewards, infos, False

    def _qvcg(self, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """QVCG outcome for reports ``scale_i * u_i`` on the grid: allocation, reported values at
        it, and the Clarke pivots ``W*_{-i}``."""
        tables = qvcg_tables(self.beta, self.xi, self.M, scale)

        def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            units, _, without = qvcg_allocation_dp(tables, self.M)
            flat = np.ravel_multi_index(tuple(units.T), (self.M + 1,) * K)
            return units / self.M, tables[np.arange(self.n_vsps), flat], without

        return _cached(b"qvcg" + tables.tobytes(), compute)

    # ------------------------------------------------------------------ views
    def _observations(self) -> dict[str, np.ndarray]:
        out = {a: self.vsp_obs[i].astype(np.float32) for i, a in enumerate(self.vsps)}
        if self.slicers:
            n = self.n_vsps
            total = self.slices.sum(axis=0)
            others = (total[None, :] - self.slices) / max(n - 1, 1)
            progress = self.num_cycles / self.max_cycles
            for i, a in enumerate(self.slicers):
                out[a] = np.concatenate([self.slices[i], others[i],
                                         [self.slicer_last_reward, progress, 1.0]]
                                        ).astype(np.float32)
        return {a: out[a] for a in self.agents}

    def state(self) -> np.ndarray:
        bids = self.vsp_obs[:, 0]
        return np.concatenate([self.slices.ravel(), bids,
                               [self.num_cycles / self.max_cycles]]).astype(np.float32)

    def equilibrium(self) -> dict[str, np.ndarray | float]:
        """Truthful bids (dominant under DVCG), the exact optimum and its welfare."""
        return {"bids": self.x_truthful.copy(), "allocation": self.s_true.copy(),
                "welfare": float(self.x_truthful.sum())}

    def information_per_round(self) -> float:
        """Floats a VSP-NSP exchange costs per round (paper Table II; see ``mechanisms.vcg``)."""
        return information_per_round(self.mechanism, self.n_vsps, self.M, self.num_cycles)

    def metrics(self) -> dict[str, Any]:
        rounds = self.num_cycles
        optimum = float(self.x_truthful.sum())
        if rounds == 0 or not self.last:
            return {"round": 0, "optimal_welfare": optimum}
        return {
            "round": rounds,
            "welfare": self.last["welfare"],
            "optimal_welfare": optimum,
            "efficiency": self.last["welfare"] / optimum,
            "mean_welfare": self.welfare_sum / rounds,
            "mean_efficiency": self.welfare_sum / rounds / optimum,
            "profit": self.last["profit"].copy(),
            "mean_profit": self.totals["profit"] / rounds,
            "tax": self.last["tax"].copy(),
            "mean_tax": self.totals["tax"] / rounds,
            "loan": self.last["loan"].copy(),
            "mean_loan": self.totals["loan"] / rounds,
            "delta": self.last["delta"],
            "alpha_hat": self.bank.alpha_hat.copy(),
            "voi": self.bank.voi().copy(),
            "information_per_round": self.information_per_round(),
            "truthful_bids": self.x_truthful.copy(),
            "bid_deviation": self.last["bids"] / self.x_truthful - 1.0,
        }

    def expected_profits(self, bids: np.ndarray, samples: int = 64, seed: int = 0) -> np.ndarray:
        """Expected one-round profit of every VSP for the bid vector ``bids`` under the current
        bank (common random numbers: ``samples`` perturbation draws from ``seed``; ``w`` at its
        mean). DVCG with ``allocator="optimum"`` or VCG; used by :meth:`bidder_nash_conv`."""
        bids = np.asarray(bids, dtype=np.float64)
        rng = np.random.default_rng(seed)
        if self.mechanism == "vcg":
            scale = np.maximum(bids / self.x_truthful, 1e-6)
            reported = scale * self.beta
            s, _, without = _optimum_and_pivots(reported, self.xi)
            pay = clarke_payments(without, slicing_utility(s, reported, self.xi))
            return self.alpha * (slicing_utility(s, self.beta, self.xi) - pay) + self.noise_mean
        if self.mechanism != "dvcg" or self.allocator != "optimum":
            raise NotImplementedError("expected_profits covers dvcg (optimum allocator) and vcg")
        beta_hat, xi_hat = self.beta, self.xi  # the bank's unbiased limit
        s_opt, sw_opt, sw_without = _optimum_and_pivots(beta_hat, xi_hat)
        loan = self.bank.loans(float(self.bank.voi().sum()), bids)
        u_star = slicing_utility(s_opt, beta_hat, xi_hat)
        total = np.zeros(self.n_vsps)
        draws = 1 if bids.sum() <= sw_opt else samples
        for _ in range(draws):
            s_tilde, _ = dvcg_perturbation(s_opt, bids, sw_opt, rng, self._norm)
            u_hat = slicing_utility(s_tilde, beta_hat, xi_hat)
            tax, _ = dvcg_tax(self.bank.alpha_hat, sw_without - (u_hat.sum() - u_hat), loan,
                              u_star, interest=self.tax == "dvcg")
            total += self.alpha * slicing_utility(s_tilde, self.beta, self.xi) - tax
        return total / draws + self.noise_mean

    def bidder_nash_conv(self, bids: np.ndarray | None = None,
                         grid: np.ndarray | None = None, samples: int = 64
                         ) -> dict[str, Any]:
        """NashConv of the bidders over a bid grid: ``sum_i max_{g} E P_i(g x*_i, x_{-i}) -
        E P_i(x)`` with bids ``g x*_i`` for ``g`` in ``grid`` (multiples of the truthful bid).
        ``bids`` default to the last round's. Returns the total and each VSP's best gain."""
        bids = self.last.get("bids", self.x_truthful) if bids is None else np.asarray(bids)
        grid = np.linspace(0.5, 1.5, 11) if grid is None else np.asarray(grid)
        base = self.expected_profits(bids, samples)
        gains = np.zeros(self.n_vsps)
        for i in range(self.n_vsps):
            best = base[i]
            for g in grid:
                trial = np.array(bids, dtype=np.float64)
                trial[i] = g * self.x_truthful[i]
                best = max(best, self.expected_profits(trial, samples)[i])
            gains[i] = best - base[i]
        return {"nash_conv": float(gains.sum()), "gains": gains}

    def _render_text(self) -> str:
        lines = [f"IoVSlicing[{self.mechanism}/{self.tax}] round {self.num_cycles}/"
                 f"{self.max_cycles}"]
        if self.last:
            m = self.metrics()
            lines.append(f"  welfare {m['welfare']:.2f} / optimum {m['optimal_welfare']:.2f} "
                         f"(efficiency {m['efficiency']:.4f})  Delta {m['delta']:.3g}")
            for i, a in enumerate(self.vsps):
                lines.append(f"  {a:>7} bid {self.last['bids'][i]:8.2f} (truthful "
                             f"{self.x_truthful[i]:8.2f})  tax {self.last['tax'][i]:8.2f}  "
                             f"profit {self.last['profit'][i]:8.2f}")
        return "\n".join(lines)
