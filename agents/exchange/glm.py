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
    """The GLM quasi-likelihood estimate of ``theta`` from ``(phi_s, y_s)``.

    ``features`` ``(..., t, m)``, ``rewards`` ``(..., t)``, ``start`` ``(..., m)``: leading axes
    are independent problems (one per agent), solved together. For the identity link (Amdahl,
    linear) this is least squares; otherwise damped Newton from ``start`` (Armijo backtracking per
    problem; a problem stops once its objective or its step stalls). A tiny ``ridge`` keeps the
    Hessian invertible before the design has full rank.
    """
    phi = np.asarray(features, dtype=np.float64)
    y = np.asarray(rewards, dtype=np.float64)
    m = phi.shape[-1]
    eye = ridge * np.eye(m)
    if family.name != "ces" or family.rho == 1.0:
        gram = np.swapaxes(phi, -1, -2) @ phi + eye
        return np.linalg.solve(gram, (np.swapaxes(phi, -1, -2) @ y[..., None]))[..., 0]

    def objective(theta: np.ndarray) -> np.ndarray:
        z = (phi @ theta[..., None])[..., 0]
        return (np.sum(family.link_antiderivative(z) - y * z, axis=-1)
                + 0.5 * ridge * np.sum(theta * theta, axis=-1))

    theta = np.array(start, dtype=np.float64)
    value = objective(theta)
    running = np.ones(theta.shape[:-1], dtype=bool)
    for _ in range(max_iter):
        z = (phi @ theta[..., None])[..., 0]
        grad = (np.swapaxes(phi, -1, -2) @ (family.link(z) - y)[..., None])[..., 0] + ridge * theta
        weights = family.link_derivative(z)
        hessian = np.swapaxes(phi * weights[..., None], -1, -2) @ phi + eye
        try:
            step = np.linalg.solve(hessian, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = grad
        size = np.ones_like(value)
        decrease = np.sum(grad * step, axis=-1)
        for _halving in range(40):  # Armijo backtracking, every problem at once
            new_value = objective(theta - size[..., None] * step)
            accepted = (new_value <= value - 1e-4 * size * decrease) | (size < 1e-10)
            if np.all(accepted):
                break
            size = np.where(accepted, size, 0.5 * size)
        move = np.where(running[..., None], size[..., None] * step, 0.0)
        theta = theta - move
        stalled = (np.abs(value - new_value) <= tol * np.maximum(1.0, np.abs(value))) | (
            np.linalg.norm(move, axis=-1) <= tol * np.maximum(1.0, np.linalg.norm(theta, axis=-1)))
        value = np.where(running, new_value, value)
        running &= ~stalled
        if not np.any(running):
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
    if m not in _PATTERNS:  # built once per m (setdefault would rebuild it on every call)
        _PATTERNS[m] = _patterns(m)
    patterns = _PATTERNS[m]
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


def project_box_rows(theta: np.ndarray, gram: np.ndarray, low: float, high: float) -> np.ndarray:
    """:func:`project_box` of every row ``theta[i]`` in its own norm ``gram[i]`` (``(n, m)``,
    ``(n, m, m)``): rows inside the box are returned as they are without a call, the others
    projected one by one (the same numbers as calling :func:`project_box` per row)."""
    theta = np.asarray(theta, dtype=np.float64)
    projected = np.clip(theta, low, high)
    for i in np.flatnonzero(np.any(projected != theta, axis=-1)):
        projected[i] = project_box(theta[i], gram[i], low, high)
    return projected


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
