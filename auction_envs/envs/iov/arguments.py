"""The IoV market's argument checks that go beyond ``core.checks``: the colluding VSPs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auction_envs.core.checks import check_int
from auction_envs.core.errors import InvalidArgumentError


def check_colluders(colluders: Any, n: int) -> tuple[int, ...]:
    """A collection of distinct-or-repeated VSP indices in ``[0, n)`` (integers, not bools,
    floats or strings), returned sorted without repeats."""
    expected = f"a collection of VSP indices, integers in [0, {n - 1}]"
    if isinstance(colluders, (str, bytes, Mapping)):
        raise InvalidArgumentError("colluders", colluders, expected)
    try:
        members = list(colluders)
    except TypeError:
        raise InvalidArgumentError("colluders", colluders, expected) from None
    try:
        return tuple(sorted({check_int("colluders", c, low=0, high=n - 1) for c in members}))
    except InvalidArgumentError:
        raise InvalidArgumentError("colluders", colluders, expected) from None
