"""The dense linear solve of the compiled oracle kernels: Gaussian elimination with partial pivoting.

Written as scalar loops so that numba compiles it into its callers (the slicing optimum's KKT
system, :mod:`auction_envs.oracles._slicing_kernel`; the CES equilibrium's Newton step,
:mod:`auction_envs.oracles.exchange`); the systems are small (a few to a few dozen unknowns),
where a call into LAPACK costs more than the solve. Each caller compiles it before itself
(numba resolves a kernel's callees when the kernel compiles). numba's on-disk cache does not track
a callee in another file: after editing this function, clear the ``__pycache__`` numba cache of
the callers' modules.
"""

from __future__ import annotations

import math

import numpy as np

from auction_envs._numba import compiled_on_first_use


def gauss_solve(a: np.ndarray, b: np.ndarray) -> bool:
    """Solve ``a x = b`` in place (partial pivoting), ``x`` into ``b`` (``a`` is overwritten);
    False when a pivot is zero or not finite, or the solution is not finite."""
    size = b.shape[0]
    for col in range(size):
        pivot = col
        largest = abs(a[col, col])
        for r in range(col + 1, size):
            if abs(a[r, col]) > largest:
                largest = abs(a[r, col])
                pivot = r
        if largest == 0.0 or not math.isfinite(largest):
            return False
        if pivot != col:
            for j in range(size):
                a[col, j], a[pivot, j] = a[pivot, j], a[col, j]
            b[col], b[pivot] = b[pivot], b[col]
        for r in range(col + 1, size):
            factor = a[r, col] / a[col, col]
            if factor != 0.0:
                for j in range(col, size):
                    a[r, j] -= factor * a[col, j]
                b[r] -= factor * b[col]
    for col in range(size - 1, -1, -1):
        total = b[col]
        for j in range(col + 1, size):
            total -= a[col, j] * b[j]
        b[col] = total / a[col, col]
        if not math.isfinite(b[col]):
            return False
    return True


#: :func:`gauss_solve` compiled by numba, or None without numba.
compiled_gauss_solve = compiled_on_first_use(gauss_solve)
