"""numba as an optional accelerator: one way to compile a kernel on first use.

numba comes with the ``fast`` extra (also in ``learners`` and ``bench``); without it every
compiled kernel has a numpy or scipy path, so the package imports and runs on numpy alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def compiled_on_first_use(function: Callable[..., Any]) -> Callable[[], Callable[..., Any] | None]:
    """A getter for ``function`` compiled by numba (``njit``, cached on disk, GIL released), or
    ``None`` without numba. Compiled once, on the getter's first call."""

    @functools.cache
    def compiled() -> Callable[..., Any] | None:
        try:
            import numba
        except Exception:  # numba is optional (the ``fast`` extra)
            return None
        return numba.njit(cache=True, nogil=True)(function)

    compiled.__doc__ = f"``{function.__name__}`` compiled by numba (cached on disk), or None without numba."
    return compiled
