"""The compiled CES Newton path of competitive_equilibrium agrees with the general path (PRD and
a finite-difference Newton polish) and passes the independent verification."""

from __future__ import annotations

import numpy as np
import pytest

from auction_envs.oracles import exchange
from auction_envs.oracles.exchange import (
    competitive_equilibrium,
    make_family,
    verify_competitive_equilibrium,
)

pytest.importorskip("numba")


def general_path(monkeypatch, *args, **kwargs):
    with monkeypatch.context() as patch:
        patch.setattr(exchange, "_compiled_ces_kernel", lambda: None)
        return competitive_equilibrium(*args, **kwargs)


def instance(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(2, 9)), int(rng.integers(2, 7))
    theta = rng.uniform(0.2, 5.0, (n, m))
    endowments = rng.dirichlet(np.ones(n), m).T
    if seed % 3 == 0:  # an agent without endowment (budget 0) and a monopolist of one good
        endowments[0] = 0.0
        endowments[:, 0] = 0.0
        endowments[1, 0] = 1.0
        endowments /= endowments.sum(axis=0)
    rho = float(rng.choice([0.05, 0.3, 0.5, 0.8, 0.95]))
    return theta, endowments, rho


@pytest.mark.parametrize("seed", range(15))
def test_compiled_and_general_paths_find_the_same_verified_equilibrium(monkeypatch, seed):
    theta, endowments, rho = instance(seed)
    compiled = exchange._compiled_ces_equilibrium(theta, endowments, "ces", 1e-6, {"rho": rho})
    assert compiled is not None  # solved on the compiled path, no fallback
    x, p = competitive_equilibrium(theta, endowments, "ces", rho=rho)
    np.testing.assert_array_equal(p, compiled[1])
    general_x, general_p = general_path(monkeypatch, theta, endowments, "ces", rho=rho)
    np.testing.assert_allclose(p, general_p, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(x, general_x, rtol=1e-9, atol=1e-12)
    check = verify_competitive_equilibrium(x, p, theta, endowments, "ces", tol=1e-10, rho=rho)
    assert check.ok, check
    assert np.abs(x.sum(axis=0) - 1.0).max() <= 1e-14


def test_family_object_spending_and_warm_start_paths(monkeypatch):
    theta, endowments, rho = instance(4)
    family = make_family("ces", rho=rho)
    x, p, b = competitive_equilibrium(theta, endowments, family, return_spending=True)
    np.testing.assert_allclose(b, x * p)
    np.testing.assert_allclose(p, competitive_equilibrium(theta, endowments, "ces", rho=rho)[1],
                               rtol=1e-13)
    # a warm start (the learners' call) keeps the general path: PRD from that spending
    warm = competitive_equilibrium(theta, endowments, family, verify=False, spending=b)
    np.testing.assert_allclose(warm[1], p, rtol=1e-10)


@pytest.mark.parametrize("theta, endowments, match", [
    (np.array([[1.0, -1.0], [1.0, 1.0]]), np.full((2, 2), 0.5), "theta"),
    (np.array([[1.0, np.nan], [1.0, 1.0]]), np.full((2, 2), 0.5), "theta"),
    (np.ones((2, 2)), np.array([[0.5, 0.7], [0.5, 0.5]]), "endowments"),
    (np.ones((2, 2)), np.array([[1.5, 0.5], [-0.5, 0.5]]), "endowments"),
    (np.ones((2, 3)), np.full((2, 2), 0.5), r"\(n, m\)"),
])
def test_invalid_economies_raise_the_general_paths_errors(theta, endowments, match):
    with pytest.raises(ValueError, match=match):
        competitive_equilibrium(theta, endowments, "ces", rho=0.5)
    with pytest.raises(ValueError, match="rho"):
        competitive_equilibrium(np.ones((2, 2)), np.full((2, 2), 0.5), "ces", rho=1.5)
