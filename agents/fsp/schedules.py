"""The FSP mixing schedules η(t): the probability that a vehicle plays its best response ζ at its
``t``-th decision (t = 1, 2, ...), otherwise its average behaviour ψ (paper 000, Alg. 1).

* ``"1/t"``: η = 1/t, the paper's Alg. 1 (line 1 and 9);
* ``"50/(t+50)"``: η = 50/(t + 50), the authors' code (MARKETS §2) — the same 1/t decay, delayed
  by 50 decisions;
* ``"constant"``: η = ``eta_constant`` (NFSP's anticipatory parameter, 0.1 in OpenSpiel and RLCard).

Both decaying schedules make the *played* BR share vanish like Σ η ≈ ln T (LEARNERS §4.3 (b)); how
DRACO keeps learning anyway is in :mod:`agents.fsp.draco` (η only chooses what is played).
"""

from __future__ import annotations

import numpy as np

ETA_SCHEDULES = ("1/t", "50/(t+50)", "constant")


def eta(schedule: str, t: np.ndarray | int, constant: float = 0.1) -> np.ndarray:
    """η at decision count(s) ``t >= 1`` under ``schedule`` (see the module docstring)."""
    t = np.asarray(t, dtype=np.float64)
    if np.any(t < 1):
        raise ValueError(f"decision counts t start at 1; got {t.min()!r}")
    if schedule == "1/t":
        return 1.0 / t
    if schedule == "50/(t+50)":
        return 50.0 / (t + 50.0)
    if schedule == "constant":
        if not 0.0 <= constant <= 1.0:
            raise ValueError(f"eta_constant must be in [0, 1]; got {constant!r}")
        return np.full(t.shape, float(constant))
    raise ValueError(f"eta_schedule must be one of {ETA_SCHEDULES}; got {schedule!r}")
