"""The clearing rules of the IoV slicing market (paper 002, MARKETS §3) as objects with one interface.

A mechanism turns one round's bids into a :class:`Clearing` (allocation, true utilities, taxes,
loans, ...) for every market of a batch (arrays ``[B, N]`` and ``[B, N, K]``). The env's round and
its off-line what-if :meth:`IoVSlicingEnv.expected_profits` call the same :meth:`Mechanism.clear`,
so the rule lives in one place:

* :class:`DVCG`: the dual-currency VCG with the bank, paper (12)-(18) (``interest=False`` is the
  NVI-DVCG ablation);
* :class:`VCG`: plain VCG with full information (the bid scales the reported utility);
* :class:`QVCG`: Ge & Berry's quantized VCG; reports are exchanged once per episode.

The formulas come from :mod:`auction_envs.mechanisms.vcg` and the programs from
:mod:`auction_envs.oracles.slicing`; solves are cached by the exact instance bytes, so every round
of an episode with a fixed market (and every replay of it) reuses one optimum and its N pivots.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from auction_envs.envs.iov.bank import Bank
from auction_envs.envs.iov.kernels import compiled_dvcg_allocation, compiled_dvcg_tax
from auction_envs.mechanisms.vcg import (
    PERTURBATION_SCALES,
    clarke_payments,
    dvcg_delta,
    dvcg_perturbation,
    dvcg_tax,
    information_per_round,
)
from auction_envs.oracles.slicing import (
    qvcg_allocation_dp,
    qvcg_tables,
    slicing_optimum_batch,
    slicing_utility,
    slicing_welfare_optimum,
    slicing_welfare_without,
)

#: A zero bid reports a utility scaled by this under VCG/QVCG [decision: the programs need beta > 0].
MIN_REPORT_SCALE = 1e-6
_CACHE: OrderedDict[bytes, Any] = OrderedDict()
_CACHE_SIZE = 256


def _cached(key: bytes, compute: Callable[[], Any]) -> Any:
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = compute()
    _CACHE[key] = value
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


def optimum_and_pivots(beta: np.ndarray, xi: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """One market's exact optimum ``s*``, ``SW*`` and Clarke pivots ``SW*_{-i}`` (cached)."""
    def compute() -> tuple[np.ndarray, float, np.ndarray]:
        s, welfare = slicing_welfare_optimum(beta, xi)
        return s, welfare, slicing_welfare_without(beta, xi, s)

    return _cached(b"opt" + beta.tobytes() + xi.tobytes(), compute)


def batched_optimum(beta: np.ndarray, xi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`optimum_and_pivots` for every market of a batch: ``[B, N, K]``, ``[B]``, ``[B, N]``.

    One market (the dict env) goes through the cache; a batch is solved in one compiled call
    (:func:`slicing_optimum_batch`, bit for bit the same numbers)."""
    if beta.shape[0] > 1:
        return slicing_optimum_batch(beta, xi)
    solved = [optimum_and_pivots(b, x) for b, x in zip(beta, xi)]
    return (np.stack([s for s, _, _ in solved]), np.array([w for _, w, _ in solved]),
            np.stack([p for _, _, p in solved]))


class Market(Protocol):
    """What a mechanism reads from the market: the drawn values and the bank (``IoVCore``)."""

    n: int
    beta: np.ndarray       # [B, N]
    xi: np.ndarray         # [B, N, K]
    alpha: np.ndarray      # [B, N]
    x_truthful: np.ndarray  # [B, N]
    s_true: np.ndarray     # [B, N, K], the optimum under the true theta (and its welfare, pivots)
    w_true: np.ndarray
    w_without: np.ndarray
    bank: Bank
    mechanism_state: dict[str, Any]


@dataclass
class Clearing:
    """One round's outcome for a batch of markets (``[B, N]``, allocation ``[B, N, K]``)."""

    allocation: np.ndarray
    utility: np.ndarray      # true utilities u_i(s~_i; theta)
    tax: np.ndarray          # charged in money: DVCG's Z_i, or alpha_i p_i under (Q)VCG
    payment: np.ndarray      # Clarke payment in utility units ((Q)VCG; 0 under DVCG)
    loan: np.ndarray         # K_i (DVCG)
    externality: np.ndarray  # I_i (DVCG)
    interest: np.ndarray     # |K_i - U*_i| (DVCG; 0 under NVI)
    delta: np.ndarray        # [B], the perturbation scale (DVCG)


class Mechanism:
    """Interface: ``clear(market, bids, rng, proposal=None, theta_hat=None) -> Clearing``."""

    name = "mechanism"
    #: the first round's bids fix the reports for the episode (later bids are ignored)
    reports_once = False
    #: accepts the slicing agents' allocation ``proposal`` instead of the optimum
    accepts_proposal = False

    def clear(self, market: Market, bids: np.ndarray, rng: np.random.Generator, *,
              proposal: np.ndarray | None = None,
              theta_hat: tuple[np.ndarray, np.ndarray] | None = None) -> Clearing:
        raise NotImplementedError

    def needs_action(self, market: Market) -> bool:
        """Whether next round's bids are read (``needs_action`` in the observations)."""
        return not (self.reports_once and market.mechanism_state.get("outcome") is not None)

    def information_per_round(self, n: int, rounds: int) -> float:
        return information_per_round(self.name, n, 0, rounds)


class DVCG(Mechanism):
    """Paper (12)-(18). ``interest=False``: NVI-DVCG. ``perturbation_scale``: see
    :func:`auction_envs.mechanisms.vcg.dvcg_delta`. The perturbation noise is drawn every round,
    ``Delta = 0`` or not, so two runs that differ in their bids see the same draws (common random
    numbers). ``perturbation_reference``: the ``SW*`` of (16) is the optimum of (14) under the
    bank's theta-hat (``"optimum"``), or the welfare of the allocation actually proposed
    (``"allocation"``; the same with the exact allocator)."""

    name = "dvcg"
    accepts_proposal = True

    def __init__(self, interest: bool = True, perturbation_scale: str = "relative",
                 perturbation_reference: str = "optimum") -> None:
        self.interest = interest
        self.perturbation_scale = perturbation_scale
        self.perturbation_reference = perturbation_reference

    def clear(self, market: Market, bids: np.ndarray, rng: np.random.Generator, *,
              proposal: np.ndarray | None = None,
              theta_hat: tuple[np.ndarray, np.ndarray] | None = None) -> Clearing:
        beta_hat, xi_hat = market.bank.theta_hat(market.beta, market.xi, rng) \
            if theta_hat is None else theta_hat
        exact_bank = beta_hat is market.beta and xi_hat is market.xi
        if exact_bank:  # solved at reset
            s_opt, sw_opt, sw_without = market.s_true, market.w_true, market.w_without
        else:
            s_opt, sw_opt, sw_without = batched_optimum(beta_hat, xi_hat)
        if proposal is None:
            s_star, sw_star = s_opt, sw_opt
            # the exact bank's u(s*) is the truthful bid computed at reset: the same numbers
            u_star = market.x_truthful if exact_bank else slicing_utility(s_star, beta_hat, xi_hat)
        else:
            s_star = proposal
            u_star = slicing_utility(s_star, beta_hat, xi_hat)
            sw_star = u_star.sum(axis=-1)
        reference = sw_opt if self.perturbation_reference == "optimum" else sw_star
        noise = rng.standard_normal(s_star.shape)
        loan, delta, s_tilde = self._allocation(market, bids, s_star, reference, noise)
        u_hat = slicing_utility(s_tilde, beta_hat, xi_hat)
        externality, tax, interest = self._taxes(market, sw_without, u_hat, loan, u_star)
        zeros = np.zeros(bids.shape)
        # the true utilities: u_hat itself when the bank's theta is the true one
        utility = u_hat if exact_bank else slicing_utility(s_tilde, market.beta, market.xi)
        return Clearing(allocation=s_tilde, utility=utility, tax=tax, payment=zeros, loan=loan,
                        externality=externality, interest=interest, delta=delta)

    def _allocation(self, market: Market, bids: np.ndarray, s_star: np.ndarray,
                    reference: np.ndarray, noise: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Loans (13), ``Delta`` (16) and the perturbed allocation (15): one compiled call with
        numba (:mod:`auction_envs.envs.iov.kernels`, the same numbers), else the numpy functions."""
        pool = market.bank.pool()
        kernel = compiled_dvcg_allocation()
        if kernel is not None and self.perturbation_scale in PERTURBATION_SCALES:
            return kernel(bids, bids.sum(axis=-1), pool, s_star, reference, noise,
                          self.perturbation_scale == "relative")
        delta = dvcg_delta(bids, reference, self.perturbation_scale)
        return market.bank.loans(pool, bids), delta, dvcg_perturbation(s_star, delta, noise)

    def _taxes(self, market: Market, sw_without: np.ndarray, u_hat: np.ndarray,
               loan: np.ndarray, u_star: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Externality (17), tax and interest term (18): one compiled call with numba (the same
        numbers), else numpy."""
        kernel = compiled_dvcg_tax()
        if kernel is not None:
            return kernel(sw_without, u_hat, u_hat.sum(axis=-1), market.bank.alpha_hat, loan,
                          u_star, self.interest)
        externality = sw_without - (u_hat.sum(axis=-1, keepdims=True) - u_hat)
        tax, interest = dvcg_tax(market.bank.alpha_hat, externality, loan, u_star,
                                 interest=self.interest)
        return externality, tax, interest


def _report_scale(market: Market, bids: np.ndarray) -> np.ndarray:
    """[decision] a bid reports the utility function scaled by ``x_i / x*_i``; a VSP left out of
    the optimum (``x*_i = 0``) cannot scale a zero, its report is truthful (scale 1)."""
    truthful = market.x_truthful
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(truthful > 0, bids / np.where(truthful > 0, truthful, 1.0), 1.0)
    return np.maximum(scale, MIN_REPORT_SCALE)


def _clarke_clearing(market: Market, allocation: np.ndarray, values: np.ndarray,
                     without: np.ndarray) -> Clearing:
    payment = clarke_payments(without, values)
    zeros = np.zeros_like(payment)
    return Clearing(allocation=allocation,
                    utility=slicing_utility(allocation, market.beta, market.xi),
                    tax=market.alpha * payment, payment=payment, loan=zeros, externality=zeros,
                    interest=zeros, delta=np.zeros(payment.shape[:-1]))


class VCG(Mechanism):
    """Plain VCG with full information; the payment ``p_i`` is charged at the VSP's own rate
    ``alpha_i`` [decision: the paper's QVCG bidders know alpha]."""

    name = "vcg"

    def clear(self, market: Market, bids: np.ndarray, rng: np.random.Generator, *,
              proposal: np.ndarray | None = None,
              theta_hat: tuple[np.ndarray, np.ndarray] | None = None) -> Clearing:
        reported = _report_scale(market, bids) * market.beta
        allocation, _, without = batched_optimum(reported, market.xi)
        values = slicing_utility(allocation, reported, market.xi)
        return _clarke_clearing(market, allocation, values, without)


class QVCG(Mechanism):
    """Ge & Berry's QVCG with quantization ``M``: reports on the ``(M+1)^3`` grid, the integer
    program solved exactly (``qvcg_allocation_dp``), Clarke pivots. The first round's bids fix the
    reports for the episode (paper §VI: exchanged once)."""

    name = "qvcg"
    reports_once = True

    def __init__(self, M: int) -> None:
        self.M = M

    def clear(self, market: Market, bids: np.ndarray, rng: np.random.Generator, *,
              proposal: np.ndarray | None = None,
              theta_hat: tuple[np.ndarray, np.ndarray] | None = None) -> Clearing:
        state = market.mechanism_state
        if state.get("outcome") is None:
            scale = _report_scale(market, bids)
            solved = [self._solve(b, x, c) for b, x, c in zip(market.beta, market.xi, scale)]
            state["outcome"] = tuple(np.stack(part) for part in zip(*solved))
        allocation, values, without = state["outcome"]
        return _clarke_clearing(market, allocation, values, without)

    def _solve(self, beta: np.ndarray, xi: np.ndarray, scale: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One market: allocation, reported values at it, and the pivots ``W*_{-i}`` (cached).

        The cache key is the instance (``beta``, ``xi``, ``scale``, ``M``: a few hundred bytes),
        not the report tables it determines (``N (M+1)^3`` floats, 740 KB at N = 10, M = 20: with
        256 cached solves those keys held about 90 MiB, the RSS growth of the QVCG soak)."""
        scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), np.shape(beta))

        def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            tables = qvcg_tables(beta, xi, self.M, scale)
            units, _, without = qvcg_allocation_dp(tables, self.M)
            flat = np.ravel_multi_index(tuple(units.T), (self.M + 1,) * xi.shape[1])
            return units / self.M, tables[np.arange(beta.size), flat], without

        key = b"qvcg%d:%s" % (self.M, repr(np.shape(xi)).encode())
        key += b"".join(np.ascontiguousarray(a, dtype=np.float64).tobytes()
                        for a in (beta, xi, scale))
        return _cached(key, compute)

    def information_per_round(self, n: int, rounds: int) -> float:
        return information_per_round(self.name, n, self.M, rounds)
