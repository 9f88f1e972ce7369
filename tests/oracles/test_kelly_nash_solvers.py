"""The compiled Newton path of kelly_nash_equilibrium agrees with its Brent path (numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from auction_envs.oracles import kelly
from auction_envs.oracles.kelly import kelly_nash_conv, kelly_nash_equilibrium

pytest.importorskip("numba")


def brent_path(monkeypatch, *args):
    with monkeypatch.context() as patch:
        patch.setattr(kelly, "_compiled_nash_kernel", lambda: None)
        return kelly_nash_equilibrium(*args)


@pytest.mark.parametrize("alpha", [1.0, 0.0])
@pytest.mark.parametrize("seed", range(12))
def test_newton_and_brent_give_the_same_equilibrium(monkeypatch, alpha, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    a = rng.uniform(0.05, 150.0, n)
    # budgets from binding to slack, one shared budget on odd seeds
    c = float(rng.uniform(1.0, 60.0)) if seed % 2 else rng.uniform(1.0, 400.0, n)
    eps, delta = float(rng.uniform(1e-3, 1.0)), float(rng.uniform(1e-3, 1.0))
    newton = kelly_nash_equilibrium(a, c, eps, delta, alpha)
    brent = brent_path(monkeypatch, a, c, eps, delta, alpha)
    np.testing.assert_allclose(newton, brent, rtol=1e-12, atol=1e-12 * brent.max())
    assert kelly_nash_conv(newton, a, eps, c, delta, alpha) <= 1e-9 * max(1.0, brent.max())


def test_binding_bounds_and_degenerate_budgets(monkeypatch):
    a = np.array([100.0, 90.0, 0.05, 0.2, 60.0])
    c = np.array([20.0, 400.0, 400.0, 400.0, 15.0])
    newton = kelly_nash_equilibrium(a, c, 1.0, 0.1)
    assert newton[0] == 20.0 and newton[4] == 15.0 and newton[2] == 1.0 and newton[3] == 1.0
    np.testing.assert_allclose(newton, brent_path(monkeypatch, a, c, 1.0, 0.1), rtol=1e-13)
    np.testing.assert_array_equal(kelly_nash_equilibrium(a, 1.0, 1.0, 0.1), np.ones(5))


@pytest.mark.parametrize("args, match", [
    ((np.array([1.0, -1.0]), 4.0, 0.1, 0.1), "a must be"),
    ((np.array([1.0, np.nan]), 4.0, 0.1, 0.1), "a must be"),
    ((np.array([1.0, 2.0]), 4.0, 0.0, 0.1), "eps"),
    ((np.array([1.0, 2.0]), 4.0, 0.1, np.inf), "delta"),
    ((np.array([1.0, 2.0]), np.array([4.0, 0.01]), 0.1, 0.1), "budgets"),
    ((np.array([]), 4.0, 0.1, 0.1), "a must be"),
])
def test_the_compiled_path_raises_the_same_errors(args, match):
    with pytest.raises(ValueError, match=match):
        kelly_nash_equilibrium(*args)
