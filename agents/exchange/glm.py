"""Per-agent GLM estimation for utilities ``u(x) = f(theta^T phi(x))`` (paper 003, Algorithm 1).

* :func:`quasi_likelihood_estimate`: the maximum quasi-likelihood estimate, the root of
  ``sum_s (y_s - f(theta^T phi_s)) phi_s = 0``, found by damped Newton on the convex objective
  ``sum_s [G(theta^T phi_s) - y_s theta^T phi_s]`` (``G' = f``);
* :func:`project_box`: the projection onto the parameter box ``[low, high]^m`` in the norm
  ``||v||_V = sqrt(v^T V v)`` (exact coordinate descent on a strictly convex box QP).
"""

from __future__ import annotations

import numpy as np

from auction_envs.oracles.exchange import UtilityFamily


def quasi_likelihood_estimate(features: np.ndarray, rewards: np.ndarray, family: UtilityFamily,
                              start: np.ndarray, ridge: float = 1e-8, max_iter: int = 50,
                              tol: float = 1e-10) -> np.ndarray:
    """The GLM quasi-likelihood estimate of ``theta`` from ``(phi_s, y_s)``, shape ``(m,)``.

    For the identity link (Amdahl, linear) this is least squares; otherwise damped Newton from
    ``start``. A tiny ``ridge`` keeps the Hessian invertible before the design has full rank.
    """
    phi = np.asarray(features, dtype=np.float64)
    y = np.asarray(rewards, dtype=np.float64)
    m = phi.shape[1]
    if family.name != "ces" or family.rho == 1.0:
        gram = phi.T @ phi + ridge * np.eye(m)
        return np.linalg.solve(gram, phi.T @ y)

    def objective(theta: np.ndarray) -> float:
        z = phi @ theta
        return float(np.sum(family.link_antiderivative(z) - y * z) + 0.5 * ridge * theta @ theta)

    theta = np.asarray(start, dtype=np.float64).copy()
    value = objective(theta)
    for _ in range(max_iter):
        z = phi @ theta
        grad = phi.T @ (family.link(z) - y) + ridge * theta
        weights = family.link_derivative(z)
        hessian = (phi * weights[:, None]).T @ phi + ridge * np.eye(m)
        try:
            step = np.linalg.solve(hessian, grad)
        except np.linalg.LinAlgError:
            step = grad
        size = 1.0
        while True:
            candidate = theta - size * step
            new_value = objective(candidate)
            if new_value <= value - 1e-4 * size * grad @ step or size < 1e-10:
                break
            size *= 0.5
        theta, done = candidate, abs(value - new_value) <= tol * max(1.0, abs(value))
        value = new_value
        if done or np.linalg.norm(size * step) <= tol * max(1.0, np.linalg.norm(theta)):
            break
    return theta


def _patterns(m: int) -> np.ndarray:
    """All ``3^m`` faces of a box: 0 = free coordinate, 1 = at ``low``, 2 = at ``high``."""
    grids = np.meshgrid(*([np.arange(3)] * m), indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


_PATTERNS: dict[int, np.ndarray] = {}


def project_box(theta: np.ndarray, gram: np.ndarray, low: float, high: float) -> np.ndarray:
    """``argmin_{low <= v <= high} (v - theta)^T gram (v - theta)``, exactly.

    For ``m <= 6`` every face of the box is tried at once (one batched linear solve of the
    stationarity conditions on the ``3^m`` faces; the best in-box candidate is the minimizer, since
    the minimizer is stationary on its own face); beyond that, exact coordinate descent.
    """
    theta = np.asarray(theta, dtype=np.float64)
    gram = np.asarray(gram, dtype=np.float64)
    v = np.clip(theta, low, high)
    if np.array_equal(v, theta):
        return v
    m = len(theta)
    if m > 6:
        return _project_box_cd(theta, gram, low, high)
    patterns = _PATTERNS.setdefault(m, _patterns(m))
    free = patterns == 0
    eye = np.eye(m)
    bounds = np.where(patterns == 1, low, high).astype(np.float64)
    rhs = np.where(free, (gram @ theta)[None], bounds)
    rhs = rhs - np.einsum("kij,kj->ki", np.where(free[:, :, None], gram[None], 0.0),
                          np.where(free, 0.0, bounds)) * free
    # stationarity on free coordinates: sum_{k free} V_jk v_k = (V theta)_j - sum_{k fixed} V_jk b_k
    matrices = np.where(free[:, :, None], np.where(free[:, None, :], gram[None], 0.0), eye[None])
    candidates = np.linalg.solve(matrices, rhs[..., None])[..., 0]
    inside = np.all((candidates >= low - 1e-12) & (candidates <= high + 1e-12), axis=1)
    candidates = np.clip(candidates[inside], low, high)
    diff = candidates - theta
    objective = np.einsum("ki,ij,kj->k", diff, gram, diff)
    return candidates[int(np.argmin(objective))]


def _project_box_cd(theta: np.ndarray, gram: np.ndarray, low: float, high: float,
                    sweeps: int = 1000, tol: float = 1e-12) -> np.ndarray:
    x = np.clip(theta, low, high)
    for _ in range(sweeps):
        largest = 0.0
        for j in range(len(x)):
            residual = gram[j] @ (x - theta) - gram[j, j] * (x[j] - theta[j])
            new = float(np.clip(theta[j] - residual / gram[j, j], low, high))
            largest = max(largest, abs(new - x[j]))
            x[j] = new
        if largest <= tol:
            break
    return x
