"""The compiled loops of ``envs/iov/kernels.py`` give the numpy functions' numbers bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from auction_envs.envs.iov.bank import Bank
from auction_envs.envs.iov.kernels import (
    compiled_dvcg_allocation,
    compiled_dvcg_tax,
    compiled_settle,
)
from auction_envs.mechanisms.vcg import dvcg_delta, dvcg_perturbation, dvcg_tax

pytestmark = pytest.mark.skipif(compiled_dvcg_allocation() is None,
                                reason="numba is not installed")


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("scale", ["relative", "literal"])
@pytest.mark.parametrize(("batch", "n"), [(1, 1), (1, 10), (4, 3), (3, 17)])
def test_dvcg_allocation_matches_the_numpy_functions(scale, batch, n):
    rng = np.random.default_rng(batch * 100 + n)
    kernel = compiled_dvcg_allocation()
    for trial in range(50):
        bids = rng.uniform(0.0, 400.0, (batch, n))
        if trial % 5 == 0:
            bids[0] = 0.0  # nobody bids in market 0: no loans, no perturbation
        s_star = rng.dirichlet(np.ones(n), (batch, 3)).transpose(0, 2, 1)
        s_star[rng.random(s_star.shape) < 0.3] = 0.0  # pairs outside the optimum's support
        noise = rng.standard_normal(s_star.shape)
        pool = rng.uniform(0.0, 2000.0, batch)
        # around the bid total: markets with Delta = 0 and Delta > 0 in the same batch
        reference = bids.sum(axis=-1) * rng.uniform(0.5, 1.5, batch)
        loan, delta, s_tilde = kernel(bids, bids.sum(axis=-1), pool, s_star, reference, noise,
                                      scale == "relative")
        want_delta = dvcg_delta(bids, reference, scale)
        assert _same_bits(loan, Bank.loans(pool, bids))
        assert _same_bits(delta, want_delta)
        assert _same_bits(s_tilde, dvcg_perturbation(s_star, want_delta, noise))


def test_bill_updates_match_the_numpy_path():
    """A batch bank (``[B, N]``: the compiled loop) and one bank per market (``[N]``: numpy)."""
    rng = np.random.default_rng(7)
    batch, n = 3, 10
    together = Bank(n, 1.0, "exact", 0.2, batch_shape=(batch,))
    apart = [Bank(n, 1.0, "exact", 0.2) for _ in range(batch)]
    for _ in range(40):
        utility = rng.uniform(0.0, 150.0, (batch, n))
        utility[rng.random((batch, n)) < 0.2] = 0.0  # no ratio from a zero utility
        gross = rng.uniform(-20.0, 200.0, (batch, n))
        together.record({"utility": utility, "gross_profit": gross})
        for b, bank in enumerate(apart):
            bank.record({"utility": utility[b], "gross_profit": gross[b]})
    for name in ("ratio_sum", "ratio_count", "utility_sum", "alpha_hat"):
        assert _same_bits(getattr(together, name), [getattr(bank, name) for bank in apart]), name


def test_settle_matches_the_numpy_expressions():
    rng = np.random.default_rng(11)
    shape = (4, 10)
    alpha, utility, tax, loan, z = (rng.uniform(0.0, 150.0, shape) for _ in range(5))
    totals = [rng.uniform(-1e3, 1e3, shape) for _ in range(4)]
    want = [t.copy() for t in totals]
    gross, profit = compiled_settle()(alpha, utility, tax, loan, z, 0.5, 5.0, *totals)
    want_gross = alpha * utility + (0.5 + 5.0 * z)
    want_profit = want_gross - tax
    for total, value in zip(want, (want_profit, tax, loan, utility)):
        total += value
    assert _same_bits(gross, want_gross) and _same_bits(profit, want_profit)
    assert all(_same_bits(got, expected) for got, expected in zip(totals, want))


@pytest.mark.parametrize("interest", [True, False])
def test_dvcg_tax_matches_the_numpy_functions(interest):
    rng = np.random.default_rng(5)
    shape = (3, 10)
    sw_without, u_hat, alpha_hat, loan, u_star = (rng.uniform(0.0, 1500.0, shape)
                                                  for _ in range(5))
    externality, tax, term = compiled_dvcg_tax()(sw_without, u_hat, u_hat.sum(axis=-1), alpha_hat,
                                                 loan, u_star, interest)
    want_externality = sw_without - (u_hat.sum(axis=-1, keepdims=True) - u_hat)
    want_tax, want_term = dvcg_tax(alpha_hat, want_externality, loan, u_star, interest=interest)
    assert _same_bits(externality, want_externality)
    assert _same_bits(tax, want_tax) and _same_bits(term, want_term)
