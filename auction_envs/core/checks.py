"""Argument checks in one place: every env and oracle validates its arguments with these, so every
rejection is an :class:`InvalidArgumentError` that names the argument, the expected domain and the
value, and nothing invalid is accepted to fail later (a crash, a NaN or an endless loop).

Numbers are strict: ``bool``, strings, bytes, complex numbers and non-finite values are rejected
(``True`` is not the integer 1 here, and ``"3"`` is not a number).

Sizes and scales have bounds too (:data:`MAX_AGENTS`, :data:`MAX_SCALE`, :data:`MIN_SCALE`, and
integers that fit int64): ``n_agents=10**18`` would otherwise allocate until the machine runs out of
memory, a price or noise level of ``1e300`` overflows the float32 observations into ``inf`` at the
first step, and a capacity of ``5e-324`` turns quotients into ``inf``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np

from auction_envs.core.errors import InvalidArgumentError

__all__ = [
    "MAX_AGENTS",
    "MAX_SCALE",
    "MIN_SCALE",
    "check_array",
    "check_bool",
    "check_choice",
    "check_int",
    "check_optional",
    "check_per_agent",
    "check_range_pair",
    "check_real",
    "check_seed",
]

T = TypeVar("T")

#: The most agents (bidders, vehicles, VSPs, traders, buyer slots) an env accepts: every agent has
#: its own spaces and observation row, so beyond this construction takes minutes and gigabytes.
MAX_AGENTS = 10_000
#: The largest magnitude accepted for a scale argument (a valuation, budget, price, weight, noise
#: level): sums and products of a few such quantities stay far inside float32 (3.4e38), so no
#: observation overflows to ``inf``. The registered variants use scales below 1e4.
MAX_SCALE = 1e9
#: The smallest positive scale accepted where a quantity divides (a capacity, a step length, a
#: work rate): ``5e-324`` makes the quotients ``inf``.
MIN_SCALE = 1e-9
_INT64_MAX = int(np.iinfo(np.int64).max)


def _is_real(value: Any) -> bool:
    return (isinstance(value, (numbers.Real, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def _domain(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def _outside(array: np.ndarray, low: float | None, high: float | None, low_open: bool,
             high_open: bool) -> bool:
    """Whether any entry is non-finite or outside ``[low, high]`` (open ends excluded)."""
    bad = ~np.isfinite(array)
    if low is not None:
        bad |= (array < low) | ((array == low) if low_open else False)
    if high is not None:
        bad |= (array > high) | ((array == high) if high_open else False)
    return bool(np.any(bad))


def check_real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number in ``[low, high]`` (``low_open``/``high_open`` exclude the ends)."""
    expected = "a finite real number"
    domain = _domain(low, high, low_open, high_open)
    if domain:
        expected += " " + domain
    if not _is_real(value):
        raise InvalidArgumentError(name, value, expected)
    try:
        number = float(value)
    except OverflowError:  # an int beyond float64 (10**400)
        raise InvalidArgumentError(name, value, expected) from None
    if not np.isfinite(number):
        raise InvalidArgumentError(name, value, expected)
    if low is not None and (number < low or (low_open and number == low)):
        raise InvalidArgumentError(name, value, expected)
    if high is not None and (number > high or (high_open and number == high)):
        raise InvalidArgumentError(name, value, expected)
    return number


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """An integer (Python or numpy, not ``bool``, not a float) in ``[low, high]``; ``high``
    defaults to the int64 maximum (larger integers overflow numpy later)."""
    parts = [f">= {low:,}"] if low is not None else []
    parts += [f"<= {high:,}"] if high is not None else ["that fits int64"]
    expected = "an integer " + " and ".join(parts)
    low = -_INT64_MAX if low is None else low
    high = _INT64_MAX if high is None else min(high, _INT64_MAX)
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(name, value, expected)
    number = int(value)
    if number < low or number > high:
        raise InvalidArgumentError(name, value, expected)
    return number


def check_bool(name: str, value: Any) -> bool:
    """``True`` or ``False`` exactly (a string such as ``"no"`` is not a boolean)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(name, value, "True or False")
    return bool(value)


def check_choice(name: str, value: Any, choices: Iterable[T]) -> T:
    """One of ``choices`` (compared with ``==``, type-strict for strings)."""
    options = tuple(choices)
    for option in options:
        if type(value) is type(option) and value == option:
            return option
    raise InvalidArgumentError(name, value, f"one of {list(options)}")


def check_optional(name: str, value: Any, check: Any, **kwargs: Any) -> Any:
    """``None``, or a value passing ``check(name, value, **kwargs)``."""
    return None if value is None else check(name, value, **kwargs)


def check_range_pair(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                     strict: bool = False) -> tuple[float, float]:
    """A pair ``(lo, hi)`` of finite reals with ``low <= lo <= hi <= high`` (``lo < hi`` if strict)."""
    expected = f"a pair (lo, hi) with lo {'<' if strict else '<='} hi"
    domain = _domain(low, high, False, False)
    if domain:
        expected += f", both {domain}"
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise InvalidArgumentError(name, value, expected) from None
    if isinstance(value, (str, bytes)) or not (_is_real(lo) and _is_real(hi)):
        raise InvalidArgumentError(name, value, expected)
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi or (strict and lo == hi):
        raise InvalidArgumentError(name, value, expected)
    if (low is not None and lo < low) or (high is not None and hi > high):
        raise InvalidArgumentError(name, value, expected)
    return lo, hi


def check_per_agent(name: str, value: Any, n: int, *, low: float | None = None,
                    high: float | None = None, low_open: bool = False,
                    high_open: bool = False) -> np.ndarray:
    """A scalar broadcast to ``n`` agents, or exactly ``n`` finite reals; a float64 copy."""
    expected = f"a finite real number or {n} of them"
    domain = _domain(low, high, low_open, high_open)
    if domain:
        expected += f", each {domain}"
    if isinstance(value, (str, bytes)) or isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(name, value, expected)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(name, value, expected) from None
    if array.dtype.kind not in "iuf" or array.ndim > 1 or (array.ndim == 1 and array.shape[0] != n):
        raise InvalidArgumentError(name, value, expected)
    array = np.broadcast_to(array.astype(np.float64), (n,)).copy()
    if _outside(array, low, high, low_open, high_open):
        raise InvalidArgumentError(name, value, expected)
    return array


def check_array(name: str, value: Any, *, shape: tuple[int, ...] | None = None,
                ndim: int | None = None, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> np.ndarray:
    """An array of finite reals (a nested sequence or numpy array; not strings, booleans or
    objects) of exactly ``shape`` (or ``ndim`` dimensions), each in ``[low, high]``; a float64
    copy."""
    expected = "an array of finite real numbers"
    if shape is not None:
        expected += f" of shape {shape}"
    elif ndim is not None:
        expected += f" with {ndim} dimensions"
    domain = _domain(low, high, low_open, high_open)
    if domain:
        expected += f", each {domain}"
    if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
        raise InvalidArgumentError(name, value, expected)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(name, value, expected) from None
    if array.dtype.kind not in "iuf" or (shape is not None and array.shape != tuple(shape)) \
            or (ndim is not None and array.ndim != ndim):
        raise InvalidArgumentError(name, value, expected)
    array = array.astype(np.float64)  # a copy
    if _outside(array, low, high, low_open, high_open):
        raise InvalidArgumentError(name, value, expected)
    return array


def check_seed(value: Any) -> int | None:
    """A reset seed: ``None`` or a non-negative integer (checked before anything changes)."""
    if value is None:
        return None
    return check_int("seed", value, low=0)
