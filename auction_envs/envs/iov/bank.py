"""The bank of the DVCG auction (paper 002 §IV-A, MARKETS §3): it issues the VC pool, lends, taxes,
keeps the bills and re-estimates alpha-hat, theta-hat and the value-of-information model from them.

Estimators (constructor arguments of the env, documented there):

* ``alpha_hat``: least squares on ``G / U`` (paper (34)): the running mean of ``G_i / U_i`` over
  the bills with ``U_i > 0``; prior ``alpha_prior`` before the first bill.
* ``theta_hat`` (``theta_estimator``): ``"exact"`` (default) gives the true ``(beta, xi)``: the
  unbiased limit the DSIC analysis assumes (paper §IV-B). ``"noisy"`` gives
  ``theta * exp(theta_noise * eps / sqrt(1 + bills))`` with fresh ``eps ~ N(0, 1)`` each round: a
  consistent estimator whose error shrinks like ``1/sqrt(#bills)`` [decision: the paper trains
  networks; with an allocation that barely moves, the bills do not identify ``xi``, so a
  parametric fit is not meaningful; the noise model stands in for the estimation error].
* VoI model ``f_i`` (paper (12), (29), (35)): the running mean of the utilities ``U_i`` reported
  in the bills [decision: the least-squares fit of a constant, the VoI network's target (35) at
  a stationary allocation]; prior: ``u_i(s*_i; theta-hat)`` before the first bill.
"""

from __future__ import annotations

import numpy as np

from auction_envs.envs.iov.kernels import compiled_bill_update


class Bank:
    """State of the bank for one episode (plain numpy; pickles with the env).

    Every array has the shape ``batch_shape + (n,)``: one bank per market of a batch.
    ``voi_prior``: ``f_i`` before the first bill (zeros when ``None``).

    The estimates change only with a bill: each is computed once per bill and kept until the
    next :meth:`record` (a round's clearing and the observations after it read the same ones);
    ``alpha_hat`` is updated in place by the bill (copy it to keep it). Callers must not write
    into the arrays they get.
    """

    def __init__(self, n: int, alpha_prior: float, theta_estimator: str, theta_noise: float,
                 keep_bills: int = 1000, batch_shape: tuple[int, ...] = (),
                 voi_prior: np.ndarray | None = None) -> None:
        self.n = n
        self.alpha_prior = alpha_prior
        self.theta_estimator = theta_estimator
        self.theta_noise = theta_noise
        self.keep_bills = keep_bills
        shape = (*batch_shape, n)
        self.ratio_sum = np.zeros(shape)
        self.ratio_count = np.zeros(shape)
        self.utility_sum = np.zeros(shape)
        self.bills = 0
        self.voi_prior = voi_prior
        self.history: list[dict[str, np.ndarray]] = []
        self._estimates: dict[str, np.ndarray] = {}  # since the last bill (see the class doc)
        self._alpha_hat = np.full(shape, float(alpha_prior))

    # ------------------------------------------------------------------ estimates
    @property
    def alpha_hat(self) -> np.ndarray:
        """``ratio_sum / ratio_count`` where a bill has been seen, else ``alpha_prior``."""
        return self._alpha_hat

    def theta_hat(self, beta: np.ndarray, xi: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        if self.theta_estimator == "exact":
            return beta, xi
        scale = self.theta_noise / np.sqrt(1.0 + self.bills)
        return (beta * np.exp(scale * rng.standard_normal(beta.shape)),
                xi * np.exp(scale * rng.standard_normal(xi.shape)))

    def voi(self) -> np.ndarray:
        """``f_i``: the bank's value-of-information estimate of each VSP's utility."""
        estimate = self._estimates.get("voi")
        if estimate is None:
            if self.bills == 0:
                estimate = np.zeros_like(self.utility_sum) if self.voi_prior is None \
                    else self.voi_prior
            else:
                estimate = self.utility_sum / self.bills
            self._estimates["voi"] = estimate
        return estimate

    def pool(self) -> np.ndarray:
        """``F_P = sum_i f_i`` (paper (12)), one per market (``batch_shape``)."""
        estimate = self._estimates.get("pool")
        if estimate is None:
            estimate = self._estimates["pool"] = self.voi().sum(axis=-1)
        return estimate

    # ------------------------------------------------------------------ one round
    @staticmethod
    def loans(pool: np.ndarray, bids: np.ndarray) -> np.ndarray:
        """``K_i = F_P x_i / sum_j x_j`` (paper (13)) for pools ``[...]`` and bids ``[..., N]``;
        all zero in a market where nobody bids."""
        total = bids.sum(axis=-1, keepdims=True)
        lent = np.asarray(pool, dtype=np.float64)[..., None] * bids
        return np.divide(lent, total, out=np.zeros(lent.shape), where=total > 0)

    def record(self, bill: dict[str, np.ndarray]) -> None:
        """Append the round's bill (paper (19)) and update the estimates (paper (20), (34), (35))."""
        utility, gross = bill["utility"], bill["gross_profit"]
        kernel = compiled_bill_update() if self.ratio_sum.ndim == 2 else None
        if kernel is not None:  # the same numbers in one call (envs/iov/kernels.py)
            kernel(utility, gross, self.ratio_sum, self.ratio_count, self._alpha_hat,
                   self.utility_sum)
        else:
            ok = utility > 1e-9
            # masked ufuncs instead of boolean indexing (the same numbers, fewer temporaries)
            ratio = np.divide(gross, utility, out=np.empty(utility.shape), where=ok)
            np.add(self.ratio_sum, ratio, out=self.ratio_sum, where=ok)
            np.add(self.ratio_count, 1.0, out=self.ratio_count, where=ok)
            # only the VSPs with a ratio in this bill have a new mean
            np.divide(self.ratio_sum, self.ratio_count, out=self._alpha_hat, where=ok)
            self.utility_sum += utility
        self.bills += 1
        self._estimates.clear()
        self.history.append(bill)
        if len(self.history) > self.keep_bills:
            del self.history[0]
