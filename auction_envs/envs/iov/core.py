"""The IoV slicing market as a core simulator (paper 002, MARKETS §3): plain numpy state for a batch
of ``B`` markets and a step over joint arrays (bids ``[B, N]``, slicer level indices ``[B, N, K]``)
that knows nothing of agent ids, dicts or spaces. ``IoVSlicingEnv`` is the PettingZoo shell over a
core with ``B = 1``; a vectorized env is a second shell over the same core.

One round: the mechanism (:mod:`auction_envs.envs.iov.clearing`) clears the bids (with the slicing
agents' proposal under ``allocator="learned"``), every VSP's profit is ``alpha_i u_i + w_i - Z_i``,
the bank records the bill and re-estimates, and the observation fields of the next round are
refreshed. The solver calls loop over the batch (one cached solve per distinct market); everything
else is vectorized over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from auction_envs.envs.iov.bank import Bank
from auction_envs.envs.iov.clearing import Clearing, Mechanism, batched_optimum
from auction_envs.envs.iov.kernels import compiled_settle
from auction_envs.oracles.slicing import slicing_utility

K = 3  # bandwidth, compute, cache
SLICE_LEVELS = np.array([-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3])
NO_CHANGE = 3  # index of the 0 level
#: a learned slice never falls below this, so a multiplicative change can grow it again
SLICE_FLOOR = 1e-6
SLICER_ACTIONS = ("capped", "renormalize")


@dataclass(frozen=True)
class MarketConfig:
    """The drawn market and the bank's estimators (checked by the shell)."""

    n: int
    beta_range: tuple[float, float]
    xi_range: tuple[float, float]
    alpha_range: tuple[float, float]
    noise_mean: float
    noise_std: float
    theta_estimator: str
    theta_noise: float
    alpha_prior: float
    learned: bool  # allocator="learned": the slicing agents propose the allocation
    slicer_action: str = "capped"  # how a proposal is brought back under capacity
    instance_seed: int | None = None  # draws (beta, xi, alpha) from its own generator


class IoVCore:
    """``B`` IoV slicing markets stepped together (every array has a leading batch axis)."""

    def __init__(self, config: MarketConfig, mechanism: Mechanism, batch: int = 1) -> None:
        self.config = config
        self.mechanism = mechanism
        self.n = config.n
        self.batch = int(batch)

    # ------------------------------------------------------------------ episode
    def reset(self, rng: np.random.Generator) -> None:
        """Draw ``B`` markets (beta, xi, alpha) and start every episode. With an
        ``instance_seed`` the markets come from a generator seeded with it (the same markets
        every episode); otherwise from ``rng``, which drives everything else."""
        c, shape = self.config, (self.batch, self.n)
        draw = rng if c.instance_seed is None else np.random.default_rng(c.instance_seed)
        self.beta = draw.uniform(*c.beta_range, shape)
        self.xi = draw.uniform(*c.xi_range, (*shape, K))
        self.alpha = draw.uniform(*c.alpha_range, shape)
        self.s_true, self.w_true, self.w_without = batched_optimum(self.beta, self.xi)
        self.x_truthful = slicing_utility(self.s_true, self.beta, self.xi)
        self.bank = Bank(self.n, c.alpha_prior, c.theta_estimator, c.theta_noise,
                         batch_shape=(self.batch,), voi_prior=self.x_truthful.copy())
        self.mechanism_state: dict[str, Any] = {}
        self.slices = np.full((*shape, K), 1.0 / self.n)
        self.rounds = 0
        self.last_levels: np.ndarray | None = None
        zeros = np.zeros(shape)
        self.last_bids = zeros.copy()
        self.last_clearing: Clearing | None = None
        self.last_profit = zeros.copy()
        self.last_welfare = np.zeros(self.batch)
        self.slicer_last_reward = np.zeros(self.batch)
        self.totals = {key: zeros.copy() for key in ("profit", "tax", "loan", "utility")}
        self.welfare_sum = np.zeros(self.batch)

    # ------------------------------------------------------------------ one round
    def propose(self, levels: np.ndarray) -> np.ndarray:
        """The slicing agents' allocation from levels ``[B, N, K]`` (indices into
        ``SLICE_LEVELS``): each slice times ``1 + level``, then

        * ``"capped"``: every resource whose total exceeds 1 is divided by its total (the
          paper's ``norm``: the total must not exceed the capacity); a common decrease leaves
          capacity idle, a common increase fills it, and only a common increase of a full
          resource is undone;
        * ``"renormalize"``: every resource divided by its total (v0): any common change of a
          resource is undone.
        """
        proposal = self.slices * (1.0 + SLICE_LEVELS[levels])
        total = proposal.sum(axis=-2, keepdims=True)
        if self.config.slicer_action == "renormalize":
            return proposal / total
        return proposal / np.maximum(total, 1.0)

    def step(self, bids: np.ndarray, levels: np.ndarray | None, rng: np.random.Generator,
             slicer_reward: str = "bids") -> tuple[np.ndarray, np.ndarray]:
        """One round for every market; returns ``(profit [B, N], slicer reward [B])``.

        ``bids`` ``[B, N]`` in VC; ``levels`` ``[B, N, K]`` (``None`` unless the allocator is
        learned). The outcome stays in ``last_clearing`` (and the other ``last_*`` arrays).
        """
        c = self.config
        w_normal = rng.standard_normal(bids.shape)  # w = noise_mean + noise_std * w_normal
        proposal = self.propose(levels) if c.learned else None
        clearing = self.mechanism.clear(self, bids, rng, proposal=proposal)
        gross, profit = self._settle(clearing, w_normal)
        self.bank.record({"allocation": clearing.allocation, "bids": bids, "loans": clearing.loan,
                          "externality": clearing.externality, "utility": clearing.utility,
                          "gross_profit": gross})
        welfare = clearing.utility.sum(axis=-1)
        reward = bids.sum(axis=-1) if slicer_reward == "bids" else welfare
        if c.learned:
            self.last_levels = levels
            slices = np.maximum(clearing.allocation, SLICE_FLOOR)
            self.slices = slices / np.maximum(slices.sum(axis=-2, keepdims=True), 1.0)
        else:
            self.slices = clearing.allocation
        self.slicer_last_reward = reward
        self.last_bids, self.last_clearing, self.last_profit = bids, clearing, profit
        self.last_welfare = welfare
        self.welfare_sum += welfare
        self.rounds += 1
        return profit, reward

    def _settle(self, clearing: Clearing, w_normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The round's gross profit ``alpha_i u_i + w_i`` and profit (minus the tax), with the
        running totals updated: one compiled call with numba (``kernels.py``, the same numbers)."""
        c, totals = self.config, self.totals
        kernel = compiled_settle()
        if kernel is not None:
            return kernel(self.alpha, clearing.utility, clearing.tax, clearing.loan, w_normal,
                          c.noise_mean, c.noise_std, totals["profit"], totals["tax"],
                          totals["loan"], totals["utility"])
        gross = self.alpha * clearing.utility + (c.noise_mean + c.noise_std * w_normal)
        profit = gross - clearing.tax
        for key, value in (("profit", profit), ("tax", clearing.tax), ("loan", clearing.loan),
                           ("utility", clearing.utility)):
            totals[key] += value
        return gross, profit

    # ------------------------------------------------------------------ views
    def vsp_fields(self) -> dict[str, np.ndarray]:
        """The bidders' observation fields, each broadcastable to ``[B, N]`` (last round, and the
        bank's estimates for the next one), without ``progress``."""
        voi = self.bank.voi()
        c = self.last_clearing
        if c is None:
            zeros = np.zeros((self.batch, 1))
            fields = dict.fromkeys(("bid", "loan", "tax", "externality", "interest", "profit",
                                    "utility", "delta"), zeros)
        else:
            fields = {"bid": self.last_bids, "loan": c.loan, "tax": c.tax,
                      "externality": c.externality, "interest": c.interest,
                      "profit": self.last_profit, "utility": c.utility, "delta": c.delta[:, None]}
        fields.update(voi=voi, pool=self.bank.pool()[:, None], alpha_hat=self.bank.alpha_hat,
                      needs_action=np.full((self.batch, 1),
                                           1.0 if self.mechanism.needs_action(self) else 0.0))
        return fields

    def slicer_fields(self) -> dict[str, np.ndarray]:
        """The slicing agents' observation fields (broadcastable to ``[B, N, size]``), without
        ``progress``."""
        total = self.slices.sum(axis=-2, keepdims=True)
        others = (total - self.slices) / max(self.n - 1, 1)
        levels = len(SLICE_LEVELS)
        if self.last_levels is None:  # no action yet
            mean_action = np.zeros((self.batch, 1, K * levels))
        else:  # the mean one-hot of the others' levels, per resource (the mean field of (28))
            one_hot = np.eye(levels)[self.last_levels]  # [B, N, K, 7]
            summed = one_hot.sum(axis=1, keepdims=True)
            mean_action = ((summed - one_hot) / max(self.n - 1, 1)).reshape(
                self.batch, self.n, K * levels)
        c = self.last_clearing
        return {"slice": self.slices, "others_slice": others, "others_mean_action": mean_action,
                "vsp_bid": self.last_bids,
                "vsp_utility": np.zeros((self.batch, 1)) if c is None else c.utility,
                "vsp_id": (np.arange(self.n) / max(self.n - 1, 1))[None],
                "reward": self.slicer_last_reward[:, None],
                "needs_action": np.ones((self.batch, 1))}
