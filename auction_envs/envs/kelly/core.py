"""The Kelly market as a plain numpy simulator: no agent ids, no dicts, no spaces.

:class:`KellyCore` holds one game (valuations, budgets, minimum bid, reserve, alpha, optional
counterfactual bid grid) and the state of ``B`` independent copies of the repeated game, and plays
one round over a joint bid array of shape ``[B, n]`` (:meth:`KellyCore.step`). ``KellyGameEnv`` is a
thin PettingZoo shell over it with ``B = 1``; the batched dynamics of ``agents.no_regret.kelly``
drive the same object (``env.unwrapped.core``) with ``B`` runs; a vector env is another shell.

Every formula is an oracle function (``auction_envs.oracles.kelly``): the round itself is
:func:`~auction_envs.oracles.kelly.kelly_round`, the normalization
:func:`~auction_envs.oracles.kelly.kelly_payoff_range`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from auction_envs._numba import PAIRWISE_BLOCK, _block_sum, compiled_on_first_use
from auction_envs.mechanisms import proportional_allocation
from auction_envs.oracles.kelly import (
    alpha_fair_value,
    kelly_nash_conv,
    kelly_nash_equilibrium,
    kelly_payoff_range,
    kelly_residual,
    kelly_round,
    kelly_welfare_optimum,
    normalized_payoff,
)

#: The rows of :meth:`KellyCore.step_single`'s feedback (the keys of ``kelly_round``, in order).
FEEDBACK_ROWS = ("bid", "others_bid", "allocation", "payoff", "gradient", "best_response")
BID, OTHERS, ALLOCATION, PAYOFF, GRADIENT, BEST = range(len(FEEDBACK_ROWS))
# PAIRWISE_BLOCK (imported): numpy sums up to this many terms in one block of its pairwise sum;
# the compiled round reproduces that order, so it serves games up to this size.


class RoundScratch:
    """The temporaries of :meth:`KellyCore.round_into` for bids of shape ``batch_shape + (n,)``."""

    def __init__(self, batch_shape: tuple[int, ...], n: int) -> None:
        self.total = np.empty((*batch_shape, 1))
        self.denominator = np.empty_like(self.total)
        self.work = np.empty((*batch_shape, n))


class KellyCore:
    """One Kelly game and ``B`` copies of its repeated play.

    Args:
        valuations: ``a_i > 0``, shape ``(n,)``.
        budgets: ``c_i >= eps``, shape ``(n,)``.
        eps: the minimum bid; ``delta``: the reservation bid; ``alpha``: the alpha-fair exponent.
        counterfactual_bids: optional ``(n, K)`` grid whose payoffs :meth:`round` also returns.

    Arguments are trusted (the shell checks them). Attributes after :meth:`reset`: ``bids``
    (``[B, n]``, the last round's), ``payoff_sum`` and ``normalized_payoff_sum`` (``[B, n]``),
    ``rounds`` (rounds played since the reset).
    """

    def __init__(self, valuations: np.ndarray, budgets: np.ndarray, eps: float, delta: float,
                 alpha: float = 1.0, counterfactual_bids: np.ndarray | None = None) -> None:
        self.valuations = np.asarray(valuations, dtype=np.float64)
        self.budgets = np.asarray(budgets, dtype=np.float64)
        self.eps, self.delta, self.alpha = float(eps), float(delta), float(alpha)
        self.counterfactual_bids = counterfactual_bids
        self.n = self.valuations.size
        self._equilibrium: np.ndarray | None = None
        # step_single's feedback buffer and the temporaries of round_into (no views of the
        # buffer are kept: a copy or pickle of the core would not share them)
        self._single_rows = np.empty((len(FEEDBACK_ROWS), self.n))
        self._single_scratch = RoundScratch((), self.n)
        # the compiled loops' allocation and its log (numpy's), outside the buffer: no views
        self._share, self._log_share = np.empty(self.n), np.empty(self.n)
        # the constants of the best response 2 a s / (s + sqrt(s^2 + 4 a s)), in round_into
        self._two_a, self._four_a = 2.0 * self.valuations, 4.0 * self.valuations
        #: ``(phi_min, phi_max)`` of the normalized payoff (the same for every player)
        self.payoff_range = kelly_payoff_range(self.valuations, self.budgets, self.eps, self.delta,
                                               self.alpha)
        self._payoff_span = self.payoff_range[1] - self.payoff_range[0]
        # the compiled loop's constants in two arrays (every argument costs the numba dispatch
        # time): rows a_i and c_i, and eps, phi_min, phi_max - phi_min
        self._loop_constants = np.stack([self.valuations, self.budgets])
        self._loop_scalars = np.array([self.eps, self.payoff_range[0], self._payoff_span])
        #: the game :meth:`round_into` and :meth:`step_single`'s compiled loops play
        self._buffered_round_applies = self.alpha == 1.0 and counterfactual_bids is None
        # ... and the compiled loops' bound on the game's size (numpy's pairwise-sum block)
        self._compiled_round_applies = self._buffered_round_applies and self.n <= PAIRWISE_BLOCK
        self.reset(1)

    def subgame(self, players: Sequence[int]) -> KellyCore:
        """The game among ``players`` only (as if the others did not bid): same eps, delta, alpha."""
        index = np.asarray(players, dtype=np.int64)
        grid = None if self.counterfactual_bids is None else self.counterfactual_bids[index]
        return KellyCore(self.valuations[index], self.budgets[index], self.eps, self.delta,
                         self.alpha, grid)

    def equilibrium(self) -> np.ndarray:
        """The unique Nash equilibrium bids, shape ``(n,)`` (exact solve, not dynamics)."""
        if self._equilibrium is None:  # solved once, on first use
            self._equilibrium = kelly_nash_equilibrium(self.valuations, self.budgets, self.eps,
                                                       self.delta, self.alpha)
        return self._equilibrium.copy()

    # ------------------------------------------------------------------ play
    def round(self, bids: np.ndarray) -> dict[str, np.ndarray]:
        """The feedback of one round for bids ``[..., n]`` (see ``kelly_round``); no state change."""
        return kelly_round(bids, self.valuations, self.eps, self.budgets, self.delta, self.alpha,
                           self.counterfactual_bids)

    def reset(self, batch: int) -> None:
        """Start ``batch`` copies of the repeated game: no bids yet."""
        self.bids = np.zeros((int(batch), self.n))
        self.payoff_sum = np.zeros_like(self.bids)
        self.normalized_payoff_sum = np.zeros_like(self.bids)
        self.rounds = 0

    def step(self, bids: np.ndarray) -> dict[str, np.ndarray]:
        """Play one round of every copy with bids ``[B, n]`` (already inside ``[eps, c_i]``)."""
        feedback = self.round(bids)
        self.bids = feedback["bid"]
        self.payoff_sum = self.payoff_sum + feedback["payoff"]
        self.normalized_payoff_sum = self.normalized_payoff_sum + self.normalize(feedback["payoff"])
        self.rounds += 1
        return feedback

    def round_into(self, bids: np.ndarray, others: np.ndarray, allocation: np.ndarray,
                   payoff: np.ndarray, gradient: np.ndarray, best: np.ndarray,
                   scratch: RoundScratch) -> None:
        """:meth:`round` for ``alpha = 1`` without a grid, into given arrays of the bids' shape
        ``[..., n]`` (the rows other than ``bid``): numpy's operations in ``kelly_round``'s order
        into recycled buffers, so the same bits without allocating (``scratch`` holds the
        temporaries). No state change."""
        a, delta = self.valuations, self.delta
        total, work = scratch.total, scratch.work
        np.sum(bids, axis=-1, keepdims=True, out=total)
        np.subtract(total, bids, out=others)
        others += delta                                      # s_i = sum_{j!=i} z_j + delta
        np.add(total, delta, out=scratch.denominator)
        np.divide(bids, scratch.denominator, out=allocation)  # z_i / (sum z + delta)
        np.log(allocation, out=payoff)
        np.multiply(a, payoff, out=payoff)
        payoff -= bids                                        # a log x - z
        np.add(bids, others, out=work)
        np.multiply(bids, work, out=work)
        np.multiply(a, others, out=gradient)
        np.divide(gradient, work, out=gradient)
        gradient -= 1.0                                       # a s / (z (z + s)) - 1
        np.multiply(others, others, out=work)
        np.multiply(self._four_a, others, out=best)
        work += best
        np.sqrt(work, out=work)
        np.add(others, work, out=work)
        np.multiply(self._two_a, others, out=best)
        np.divide(best, work, out=best)                       # 2 a s / (s + sqrt(s^2 + 4 a s))
        np.maximum(best, self.eps, out=best)
        np.minimum(best, self.budgets, out=best)

    def step_single(self, bids: np.ndarray, observation: np.ndarray | None = None,
                    columns: np.ndarray | None = None) -> np.ndarray:
        """:meth:`step` for one copy (``B = 1``) with bids ``(n,)``; bit-identical to it.

        Returns the feedback as rows ``[len(FEEDBACK_ROWS), n]`` of a buffer of the core that the
        next call overwrites. With ``observation`` (float32 ``[n, m]``) and ``columns`` (int64
        ``[k]``), feedback row ``r < k`` of every bidder is also written into column
        ``columns[r]`` of ``observation`` (rounded to float32): a shell's observation, filled in
        the same pass.

        For ``alpha = 1`` without a grid the round runs in place: with numba as two compiled
        loops around numpy's own ``log`` (numba's ``log`` is libm's, which differs from numpy's
        SIMD ``log`` in the last bit), else :meth:`round_into`. Other games take :meth:`step`.
        """
        rows = self._single_rows
        # the common case first, with as few lookups as possible (this is the dict env's step)
        if self._compiled_round_applies and len(self.bids) == 1 \
                and (loops := _compiled_round_loops()) is not None:
            if observation is None:
                observation, columns = _NO_OBSERVATION, _NO_COLUMNS
            before_log, after_log = loops
            share, log_share = self._share, self._log_share
            before_log(bids, self.delta, rows, share)
            np.log(share, log_share)  # out positional: the keyword costs more than the loop
            after_log(self._loop_constants, self._loop_scalars, log_share, rows, self.bids,
                      self.payoff_sum, self.normalized_payoff_sum, observation, columns)
            self.rounds += 1
            return rows
        if not self._buffered_round_applies or self.bids.shape[0] != 1:
            feedback = self.step(bids.reshape(1, -1))
            for row, key in enumerate(FEEDBACK_ROWS):
                rows[row] = feedback[key][0]
        else:  # numpy in place, with step's updates of the state
            bid, others, allocation, payoff, gradient, best = rows
            bid[:] = bids
            self.round_into(bid, others, allocation, payoff, gradient, best, self._single_scratch)
            self.bids[0] = bid
            self.payoff_sum[0] += payoff
            normalized = self.normalized_payoff_sum[0]
            if self._payoff_span > 0.0:  # normalized_payoff, without its temporaries
                work = self._single_scratch.work
                np.subtract(payoff, self.payoff_range[0], out=work)
                np.divide(work, self._payoff_span, out=work)
                normalized += work
            else:
                normalized += 1.0
            self.rounds += 1
        if observation is not None:
            observation[:, columns] = rows[:len(columns)].T
        return rows

    def normalize(self, payoff: np.ndarray) -> np.ndarray:
        """Payoffs rescaled by :attr:`payoff_range` to ``[0, 1]``."""
        return normalized_payoff(payoff, *self.payoff_range)

    # ------------------------------------------------------------------ metrics
    def metrics(self) -> dict[str, np.ndarray]:
        """Metrics of the last round's bids per copy (``[B]`` or ``[B, n]``) and time averages."""
        bids = self.bids
        allocation = proportional_allocation(bids, self.delta)
        value = alpha_fair_value(allocation, self.valuations, self.alpha)
        rounds = max(self.rounds, 1)
        return {
            "residual": kelly_residual(bids, self.valuations, self.eps, self.budgets, self.delta,
                                       self.alpha),
            "nash_conv": kelly_nash_conv(bids, self.valuations, self.eps, self.budgets, self.delta,
                                         self.alpha),
            "distance_to_equilibrium": np.linalg.norm(bids - self.equilibrium(), axis=-1),
            "normalized_payoff": self.normalize(value - bids),
            "mean_normalized_payoff": self.normalized_payoff_sum / rounds,
            "mean_payoff": self.payoff_sum / rounds,
            "welfare": value.sum(axis=-1),
        }

    def welfare_optimum(self) -> float:
        """The largest welfare ``sum_i V_i(x_i)`` over allocations (``x_i`` proportional to
        ``a_i^(1/alpha)``)."""
        return kelly_welfare_optimum(self.valuations, self.alpha)[1]

    def price_of_anarchy(self, welfare: np.ndarray) -> np.ndarray:
        """Optimal over achieved welfare, made meaningful for valuations that can be negative.

        For alpha < 1 values are positive: ``W* / W`` (inf for ``W <= 0``). For alpha > 1 they are
        negative: ``W / W*``. For log values (alpha = 1) the ratio of the a-weighted geometric
        means of the allocations, ``exp((W* - W) / sum a_i)``. All are >= 1, 1 at the optimum.
        """
        optimum = self.welfare_optimum()
        welfare = np.asarray(welfare, dtype=np.float64)
        if self.alpha == 1.0:
            return np.exp((optimum - welfare) / self.valuations.sum())
        if self.alpha < 1.0:
            return np.where(welfare > 0, optimum / np.where(welfare > 0, welfare, 1.0), np.inf)
        return welfare / optimum


# ---------------------------------------------------------------------- the compiled single round
# kelly_round (alpha = 1, no grid) for one game, as plain loops for numba: every operation in
# numpy's order, so the same bits (tested against kelly_round).

def _round_before_log(bids: np.ndarray, delta: float, out: np.ndarray, share: np.ndarray) -> None:
    """The rows bid, others_bid and allocation of ``out`` (``others_bid`` and
    ``proportional_allocation`` of kelly_round) for at most PAIRWISE_BLOCK bids; the allocation
    also into ``share``."""
    total = _block_sum(bids, 0, bids.size)  # bids.sum() in numpy's order
    denominator = total + delta
    for i in range(bids.size):
        out[0, i] = bids[i]
        out[1, i] = total - bids[i] + delta
        out[2, i] = share[i] = bids[i] / denominator


def _round_after_log(constants: np.ndarray, scalars: np.ndarray, log_share: np.ndarray,
                     out: np.ndarray, last_bids: np.ndarray, payoff_sum: np.ndarray,
                     normalized_sum: np.ndarray, observation: np.ndarray,
                     columns: np.ndarray) -> None:
    """The rows payoff (from ``log_share``, numpy's ``log x``), gradient and best_response of ``out``,
    the state of :meth:`KellyCore.step` (last bids, payoff sums: ``[1, n]``) in place, and the
    first ``len(columns)`` rows into ``observation`` (see :meth:`KellyCore.step_single`).
    ``constants``, ``scalars``: ``KellyCore._loop_constants``, ``KellyCore._loop_scalars``."""
    a, c = constants[0], constants[1]
    eps, low, span = scalars[0], scalars[1], scalars[2]
    for i in range(a.size):
        bid, others = out[0, i], out[1, i]
        payoff = a[i] * log_share[i] - bid
        out[3, i] = payoff
        out[4, i] = a[i] * others / (bid * (bid + others)) - 1.0
        interior = 2.0 * a[i] * others / (others + np.sqrt(others * others + 4.0 * a[i] * others))
        out[5, i] = min(max(interior, eps), c[i])
        last_bids[0, i] = bid
        payoff_sum[0, i] = payoff_sum[0, i] + payoff
        # normalized_payoff: 1 where the payoff range is a single point
        normalized_sum[0, i] = normalized_sum[0, i] + ((payoff - low) / span if span > 0.0 else 1.0)
        for row in range(columns.size):
            observation[i, columns[row]] = out[row, i]  # float32 rounding, as numpy's cast


# step_single's stand-ins for no observation (one signature for the compiled loop)
_NO_OBSERVATION = np.empty((0, 0), dtype=np.float32)
_NO_COLUMNS = np.empty(0, dtype=np.int64)
_compiled_before_log = compiled_on_first_use(_round_before_log, helpers=(_block_sum,))
_compiled_after_log = compiled_on_first_use(_round_after_log)


@functools.cache
def _compiled_round_loops() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """``(before_log, after_log)`` compiled, or None without numba: one cached call per step."""
    before_log, after_log = _compiled_before_log(), _compiled_after_log()
    return None if before_log is None or after_log is None else (before_log, after_log)
