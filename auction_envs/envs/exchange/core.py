"""The exchange economy's core: numpy state and the two round rules, over joint action arrays.

Nothing here knows agent ids, dicts or spaces (the shells, :mod:`.env` and :mod:`.mechanism`,
convert). The round rules work over leading batch axes ``(..., n, m)``; the losses are the
oracle's (one economy at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auction_envs.envs.exchange.economy import Economy
from auction_envs.mechanisms.trading_post import budgets_at, trading_post

#: the most rounds whose CE loss the traders' core defers (then it computes them)
MAX_UNSCORED_ROUNDS = 1024


def split_from_weights(weights: np.ndarray) -> np.ndarray:
    """Budget shares from non-negative spending weights ``(..., n, m)``: each row normalized
    explicitly (no softmax); an all-zero row splits uniformly."""
    weights = np.asarray(weights, dtype=np.float64)
    totals = weights.sum(axis=-1, keepdims=True)
    return _normalized(weights, totals, 1.0 / weights.shape[-1])


def _normalized(weights: np.ndarray, totals: np.ndarray, if_zero: float) -> np.ndarray:
    """``weights / totals`` where the total is positive, ``if_zero`` elsewhere."""
    positive = totals > 0
    if np.logical_and.reduce(positive, axis=None):  # the common case (mask.all(), unwrapped):
        # without the two selections (the same numbers)
        return weights / totals
    return np.where(positive, weights / np.where(positive, totals, 1.0), if_zero)


def decode_action(action: np.ndarray, n_agents: int, n_goods: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(allocation (..., n, m), prices (..., m))`` from mechanism actions ``(..., n m + m)``:
    allocation columns ``x_ij = a_ij / sum_k a_kj`` (an all-zero column is split equally), prices
    ``w / sum(w)`` (all-zero: uniform)."""
    action = np.asarray(action, dtype=np.float64)
    weights = action[..., :n_agents * n_goods].reshape((*action.shape[:-1], n_agents, n_goods))
    total = np.add.reduce  # what .sum() calls (decoded every mechanism round)
    allocation = _normalized(weights, total(weights, axis=-2, keepdims=True), 1.0 / n_agents)
    price_weights = action[..., n_agents * n_goods:]
    prices = _normalized(price_weights, total(price_weights, axis=-1, keepdims=True),
                         1.0 / n_goods)
    return allocation, prices


def encode_action(allocation: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """The action that :func:`decode_action` maps back to ``(allocation, prices)`` (a feasible
    allocation with full columns and prices on the simplex are encoded exactly, as float64)."""
    allocation = np.clip(np.asarray(allocation, dtype=np.float64), 0.0, 1.0)
    prices = np.clip(np.asarray(prices, dtype=np.float64), 0.0, 1.0)
    flat = allocation.reshape((*allocation.shape[:-2], -1))
    return np.concatenate([flat, prices], axis=-1)


@dataclass
class TradeRound:
    """One trading-post round: shares, spending, allocation, the new prices, next budgets."""

    split: np.ndarray
    spending: np.ndarray
    allocation: np.ndarray
    prices: np.ndarray
    next_budgets: np.ndarray


def trade(endowments: np.ndarray, prices: np.ndarray, weights: np.ndarray) -> TradeRound:
    """The traders' round: budgets ``p . e_i`` at last round's prices, split by the weights,
    cleared by the trading post (``(..., n, m)`` arrays)."""
    split = split_from_weights(weights)
    budgets = budgets_at(endowments, prices)
    spending = budgets[..., None] * split
    allocation, new_prices = trading_post(spending)
    return TradeRound(split, spending, allocation, new_prices, budgets_at(endowments, new_prices))


class ExchangeCore:
    """The state of one episode: the economy, the last round's allocation and prices, the noisy
    utilities and the running CE loss. ``step_*`` take joint action arrays."""

    def __init__(self, economy: Economy, noise_std: float, rng: np.random.Generator,
                 prices: np.ndarray) -> None:
        n, m = economy.theta.shape
        self.economy = economy
        self.noise_std = noise_std
        self.rng = rng
        self.ce_allocation, self.ce_prices = economy.equilibrium()
        self.ce_utilities = economy.utilities(self.ce_allocation)
        self.prices = prices
        self.split = np.zeros((n, m))
        self.allocation = np.zeros((n, m))
        self.noisy_utilities = np.zeros(n)
        self.rounds = 0
        self._last_ce_loss = float("nan")
        self._ce_loss_sum = 0.0
        # Rounds played whose CE loss is not computed yet, oldest first. The traders' view feeds
        # the CE loss to no observation, reward or info, only to metrics(): a round's loss (a
        # demand solve, most of a step) is computed when asked, in play order, so the sum is the
        # one a per-step update makes, bit for bit.
        self._unscored_rounds: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def last_ce_loss(self) -> float:
        """The CE loss of the last round (nan before the first)."""
        self._score_rounds()
        return self._last_ce_loss

    @property
    def ce_loss_sum(self) -> float:
        """The CE losses of every round so far, summed in play order."""
        self._score_rounds()
        return self._ce_loss_sum

    def _score_rounds(self) -> None:
        for allocation, prices, utilities in self._unscored_rounds:
            self._add_ce_loss(self.economy.ce_loss(allocation, prices, utilities))
        self._unscored_rounds.clear()

    def _add_ce_loss(self, loss: float) -> None:
        self._last_ce_loss = loss
        self._ce_loss_sum += loss

    def _noisy(self, utilities: np.ndarray) -> np.ndarray:
        return utilities + self.noise_std * self.rng.standard_normal(utilities.shape)

    def _record(self, allocation: np.ndarray, prices: np.ndarray,
                utilities: np.ndarray | None = None) -> np.ndarray:
        """Apply an outcome: noisy utilities (the bandit feedback); returns the true ones
        (``utilities``: the allocation's, when the caller has them)."""
        if utilities is None:
            utilities = self.economy.utilities(allocation)
        self.noisy_utilities = self._noisy(utilities)
        self.allocation, self.prices = allocation, prices
        self.rounds += 1
        return utilities

    def step_traders(self, weights: np.ndarray) -> TradeRound:
        """Traders' round from spending weights ``(n, m)`` (its CE loss computed when asked)."""
        outcome = trade(self.economy.endowments, self.prices, weights)
        utilities = self._record(outcome.allocation, outcome.prices)
        self.split = outcome.split
        self._unscored_rounds.append((outcome.allocation, outcome.prices, utilities))
        if len(self._unscored_rounds) >= MAX_UNSCORED_ROUNDS:
            self._score_rounds()  # bounded memory on long episodes that never read metrics()
        return outcome

    def step_mechanism(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Mechanism's round from its action ``(n m + m,)``: ``(allocation, prices, SI loss)``;
        its CE loss (the reward) is ``last_ce_loss``."""
        n, m = self.economy.theta.shape
        allocation, prices = decode_action(action, n, m)
        utilities, loss = self.economy.utilities_and_ce_loss(allocation, prices)
        self._record(allocation, prices, utilities)
        self._add_ce_loss(loss)
        return allocation, prices, self.economy.sharing_incentive_loss(allocation, utilities)
