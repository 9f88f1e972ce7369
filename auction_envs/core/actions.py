"""Action checking of ``MarketEnv``: cached per-agent bounds and strict real numbers.

Action validation (``step`` / :meth:`validate_actions`): the joint action is checked once, as one
float64 array against bounds cached at ``_set_spaces`` (float arrays of one entry per agent as
Python numbers against the same bounds: cheaper for a few agents); only when that check fails are
the agents walked one by one to raise the precise :class:`InvalidActionError` (agent, space,
value). Accepted values are *real numbers* only: Python / numpy integers and floats, numeric numpy
arrays and (nested) lists or tuples of them, or anything exposing a numeric ``__array__``.
Booleans, strings, bytes, complex numbers, datetimes, ``None`` and object arrays are rejected, as
are NaN, infinities and numbers that overflow the space's dtype; every rejection is an
:class:`InvalidActionError` (a ``ValueError``), whatever the input, and changes nothing.

Float32 bounds: action Boxes are float32, and float32 cannot hold most decimal bounds (``0.1``
becomes ``0.100000001``). A value is accepted when its float32 rounding lies in the Box
(``np.float32(x) in space``), which admits the documented float64 bound whichever way the Box was
built (``spaces.Box(0.1, ...)`` rounds to nearest, ``core.layout.float32_box`` outward); accepted
values are then clipped into the documented float64 bounds (``action_bounds`` of ``_set_spaces``,
default the Box's own bounds), so the market sees exactly ``0.1`` at the documented minimum.

``MarketEnv`` walks the live agents (``_validate``: the joint check, else ``_validate_each``: keys,
then ``_validate_one`` per agent); this module holds what the walk is built from: the per-agent
specs cached at ``_set_spaces`` (:class:`ActionSpec`, stacked into a :class:`JointSpec`), the joint
check (:func:`checked_joint_array`), the per-agent check (:func:`checked_action`), the screen of
plain real inputs a fast path may hand to numpy (:func:`all_plain_real`) and the strict
conversion that rejects everything else (:func:`real_array`).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter, le
from typing import Any

import numpy as np
from gymnasium import spaces

from auction_envs.core.errors import InvalidActionError

_NDARRAY_ONLY = {np.ndarray}
_DTYPE = attrgetter("dtype")

# Types whose values the fast path may hand to numpy without a closer look (bool is not among
# them: ``type(True) is bool``, not ``int``).
PLAIN_REAL_TYPES = frozenset({
    float, int, np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
    np.uint64, np.uint32, np.uint16, np.uint8,
})
REAL_KINDS = frozenset("iuf")
# float dtypes whose ``item()`` is a Python float (longdouble's is not)
_PYTHON_FLOAT_DTYPES = frozenset(map(np.dtype, (np.float64, np.float32, np.float16)))
_ALL = np.logical_and.reduce


def all_plain_real(values: Sequence[Any]) -> bool:
    """True when every value is a plain real number, a numeric (``iuf``) numpy array or a flat
    list/tuple of plain real numbers: the inputs a fast path may convert with
    ``np.asarray(..., float64)`` without accepting booleans, strings, complex numbers and the
    like. A market overriding ``validate_actions`` screens its values with this first and hands
    anything else to ``MarketEnv.validate_actions`` (which rejects it with the precise error)."""
    if set(map(type, values)) <= PLAIN_REAL_TYPES:
        return True
    for value in values:
        kind = type(value)
        if kind in PLAIN_REAL_TYPES or (kind is np.ndarray and value.dtype.kind in REAL_KINDS):
            continue
        if (kind is list or kind is tuple) and all(type(entry) in PLAIN_REAL_TYPES
                                                   for entry in value):
            continue
        return False
    return True
_KIND_NAMES = {"b": "booleans", "U": "strings", "S": "bytes", "c": "complex numbers",
               "M": "datetimes", "m": "time deltas", "O": "objects", "V": "structured records"}


@dataclass(frozen=True)
class ActionSpec:
    """What validation needs of one agent's action space, as float64 arrays of the space's shape.

    ``accept_low/high``: the widest values accepted under ``action_policy="raise"`` (the Box's
    bounds widened by half a step of its float dtype); ``low/high``: the documented bounds accepted
    values are clipped into. ``kind`` is ``"box"``, ``"integer"`` or ``"unsupported"``.
    """

    space: spaces.Space
    kind: str
    shape: tuple[int, ...]
    low: np.ndarray
    high: np.ndarray
    accept_low: np.ndarray
    accept_high: np.ndarray


def _half_step_outward(bound: np.ndarray, dtype: np.dtype, direction: float) -> np.ndarray:
    """The midpoint between each float ``bound`` and its neighbour in ``direction`` (float64)."""
    stored = bound.astype(dtype)
    neighbour = np.nextafter(stored, np.asarray(direction, dtype=dtype))
    with np.errstate(over="ignore", invalid="ignore"):
        middle = (stored.astype(np.float64) + neighbour.astype(np.float64)) / 2.0
    return np.where(np.isfinite(middle), middle, stored.astype(np.float64))


def action_spec(space: spaces.Space, documented: tuple[Any, Any] | None) -> ActionSpec:
    shape = tuple(space.shape or ())
    if isinstance(space, spaces.Box):
        box_low = space.low.astype(np.float64)
        box_high = space.high.astype(np.float64)
        accept_low, accept_high = box_low, box_high
        if np.issubdtype(space.dtype, np.floating):
            largest = float(np.finfo(space.dtype).max)  # beyond it the stored value is inf
            accept_low = np.maximum(_half_step_outward(box_low, space.dtype, -np.inf), -largest)
            accept_high = np.minimum(_half_step_outward(box_high, space.dtype, np.inf), largest)
        low, high = np.maximum(box_low, accept_low), np.minimum(box_high, accept_high)
        if documented is not None:
            low = np.broadcast_to(np.asarray(documented[0], dtype=np.float64), shape).copy()
            high = np.broadcast_to(np.asarray(documented[1], dtype=np.float64), shape).copy()
            if np.any(low < accept_low) or np.any(high > accept_high) or np.any(low > high):
                raise TypeError(f"action_bounds {documented} do not match the space {space} "
                                "(they must lie within float32 rounding of its bounds)")
        return ActionSpec(space, "box", shape, low, high, accept_low, accept_high)
    if isinstance(space, spaces.Discrete):
        low = np.asarray(float(space.start))
        high = np.asarray(float(space.start + space.n - 1))
    elif isinstance(space, spaces.MultiDiscrete):
        low = space.start.astype(np.float64)
        high = (space.start + space.nvec - 1).astype(np.float64)
    elif isinstance(space, spaces.MultiBinary):
        low, high = np.zeros(shape), np.ones(shape)
    else:
        empty = np.zeros(0)
        return ActionSpec(space, "unsupported", shape, empty, empty, empty, empty)
    return ActionSpec(space, "integer", shape, low, high, low, high)


@dataclass(frozen=True)
class JointSpec:
    """The specs of every possible agent stacked along a leading axis (all share kind and shape).

    ``low_values``/``high_values``: the same bounds as flat lists of Python floats, for the check
    of one number per agent (:func:`checked_joint_array`).
    """

    kind: str
    shape: tuple[int, ...]
    low: np.ndarray
    high: np.ndarray
    low_values: list[float] = field(init=False, repr=False, compare=False)
    high_values: list[float] = field(init=False, repr=False, compare=False)
    #: the space holds one entry (shape ``()``, ``(1,)``, ``(1, 1)``...)
    one_entry_per_agent: bool = field(init=False, repr=False, compare=False)
    #: a Box of one entry per agent: the values are checked as Python numbers
    one_number_per_agent: bool = field(init=False, repr=False, compare=False)
    #: ``(-1, *shape)``: the stacked rows of any number of agents
    rows_shape: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # derived once: the check runs every step
        one_entry = int(np.prod(self.shape)) == 1
        object.__setattr__(self, "low_values", self.low.ravel().tolist())
        object.__setattr__(self, "high_values", self.high.ravel().tolist())
        object.__setattr__(self, "one_entry_per_agent", one_entry)
        object.__setattr__(self, "one_number_per_agent", one_entry and self.kind == "box")
        object.__setattr__(self, "rows_shape", (-1, *self.shape))

    def bounds(self, rows: list[int] | None) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` of the agents at ``rows`` (None: all)."""
        if rows is None:
            return self.low, self.high
        return self.low[rows], self.high[rows]

    def bound_values(self, rows: list[int] | None) -> tuple[list[float], list[float]]:
        """``(low_values, high_values)`` of the agents at ``rows`` (None: all)."""
        if rows is None:
            return self.low_values, self.high_values
        return [self.low_values[row] for row in rows], [self.high_values[row] for row in rows]


def _is_real_leaf(leaf: Any) -> bool:
    return type(leaf) in PLAIN_REAL_TYPES or (
        isinstance(leaf, numbers.Real) and not isinstance(leaf, (bool, np.bool_)))


def real_array(value: Any, agent: str, space: spaces.Space) -> np.ndarray:
    """``value`` as a float64 array, or :class:`InvalidActionError` for anything but real numbers
    (whatever the input: no other exception type escapes)."""

    def rejected(reason: str) -> InvalidActionError:
        return InvalidActionError(f"not numeric ({reason})", agent=agent, space=space, value=value)

    if isinstance(value, (bool, np.bool_)):
        raise rejected("a boolean is not a real number")
    if isinstance(value, (str, bytes, bytearray)):
        raise rejected(f"a {type(value).__name__} is not a real number")
    if isinstance(value, numbers.Real) and not isinstance(value, np.generic):
        try:
            return np.asarray(float(value))
        except (OverflowError, TypeError, ValueError) as exc:
            raise rejected(f"{type(exc).__name__}: {exc}") from None
    if isinstance(value, (list, tuple)):
        try:
            leaves = np.array(value, dtype=object)
        except Exception as exc:  # any failure is a malformed action
            raise rejected(f"{type(exc).__name__}: {exc}") from None
        for leaf in leaves.flat:  # bounded by the size of the input itself
            if not _is_real_leaf(leaf):
                raise rejected(f"entry {leaf!r} is not a real number")
        try:
            return np.array(leaves, dtype=np.float64)
        except Exception as exc:  # e.g. OverflowError for 10**400
            raise rejected(f"{type(exc).__name__}: {exc}") from None
    try:
        array = np.asarray(value)
    except Exception as exc:  # e.g. a torch tensor that requires grad
        raise rejected(f"{type(exc).__name__}: {exc}") from None
    if array.dtype.kind not in REAL_KINDS:
        raise rejected(f"{_KIND_NAMES.get(array.dtype.kind, array.dtype)} are not real numbers")
    with np.errstate(over="ignore"):  # a longdouble beyond float64 becomes inf: rejected later
        return array.astype(np.float64)


def checked_joint_array(values: list[Any], joint: JointSpec,
                        rows: list[int] | None = None) -> np.ndarray | None:
    """The live agents' ``values`` as one checked array against the documented bounds of
    ``joint`` (the agents at ``rows`` of it; None: every possible agent), or ``None`` when anything
    is unusual: the per-agent walk (:func:`checked_action`) then raises the precise error, or
    clips."""
    if values and joint.one_number_per_agent and type(values[0]) is np.ndarray:
        # the common case, one float each, compared as Python floats (a third of the cost of an
        # array first). ``np.ndarray.item`` raises TypeError for anything but an ndarray (or a
        # subclass, which the per-agent walk accepts with the same value): no type check needed.
        try:
            dtypes = set(map(_DTYPE, values))  # AttributeError: a value without a dtype
            numbers_ = list(map(np.ndarray.item, values)) if dtypes <= _PYTHON_FLOAT_DTYPES \
                else None  # ValueError unless one entry each
        except (AttributeError, TypeError, ValueError):
            return None
        if numbers_ is not None:
            low_values, high_values = joint.bound_values(rows)
            # NaN fails both comparisons; inf lies beyond every (finite) cached bound.
            if not (all(map(le, low_values, numbers_)) and all(map(le, numbers_, high_values))):
                return None
            # Python floats into float64: exact; fromiter with its count is numpy's cheapest build
            return np.fromiter(numbers_, np.float64, len(numbers_)).reshape(joint.rows_shape)
    types = set(map(type, values))
    if types == _NDARRAY_ONLY:  # numeric arrays, checked by dtype (floats: a subset test)
        dtypes = set(map(_DTYPE, values))
        if not (dtypes <= _PYTHON_FLOAT_DTYPES or all(dtype.kind in REAL_KINDS for dtype in dtypes)):
            return None
    elif not all_plain_real(values):
        return None
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    expected = (len(values), *joint.shape)
    if array.shape != expected:
        if array.size != len(values) or not joint.one_entry_per_agent:
            return None
        array = array.reshape(expected)
    low, high = joint.bounds(rows)
    # NaN fails both comparisons; inf lies beyond every (finite) cached bound.
    # (the reductions that .all() calls, without its Python wrapper: every step of most markets)
    if not (_ALL(np.greater_equal(array, low), axis=None)
            and _ALL(np.less_equal(array, high), axis=None)):
        return None
    if joint.kind == "integer":
        if not (array == np.floor(array)).all():
            return None
        return array.astype(np.int64)
    return array


def checked_action(spec: ActionSpec, agent: str, value: Any, action_policy: str) -> np.ndarray:
    """One agent's ``value`` checked against ``spec``: a float64 (``int64`` for discrete spaces)
    array clipped into the documented bounds, or :class:`InvalidActionError` naming the agent,
    the space and the value (out of bounds only under ``action_policy="raise"``)."""
    space = spec.space
    if spec.kind == "unsupported":
        raise TypeError(f"unsupported action space {space!r}")
    array = real_array(value, agent, space)
    shape = spec.shape
    if array.shape != shape:
        if array.size == 1 and int(np.prod(shape)) == 1:
            array = array.reshape(shape)
        else:
            raise InvalidActionError(f"shape {array.shape} instead of {shape}", agent=agent,
                                     space=space, value=value)
    if not np.all(np.isfinite(array)):
        raise InvalidActionError("NaN or infinite entry", agent=agent, space=space, value=value)
    if spec.kind == "integer":
        if not np.all(array == np.round(array)):
            raise InvalidActionError("non-integer entry for a discrete space", agent=agent,
                                     space=space, value=value)
        if np.any(array < spec.low) or np.any(array > spec.high):
            raise InvalidActionError("out of range", agent=agent, space=space, value=value)
        return array.astype(np.int64)
    if np.any(array < spec.accept_low) or np.any(array > spec.accept_high):
        if action_policy != "clip":
            raise InvalidActionError(
                "out of bounds (pass action_policy='clip' to clip instead)",
                agent=agent, space=space, value=value,
            )
    # float32 rounding of the documented bounds, or the clip policy: into the documented box
    return np.clip(array, spec.low, spec.high)
