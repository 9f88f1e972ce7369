"""Named observation layouts: an env declares its fields once; the layout builds the space, packs
observations and unpacks them for learners by name.

An observation is a flat float32 vector. Each :class:`Field` covers ``size`` consecutive entries and
stores ``value / scale``: a field with ``scale=2000`` holds a budget of 1500 as 0.75, and
:meth:`ObservationLayout.unpack` gives 1500 back. Learners and baselines read fields by name
(``env.unwrapped.layout.unpack(obs)["budget"]``), never by offset, and never copy an env's scale.

Every method works over leading batch axes: ``pack`` of fields shaped ``[B, size]`` (or ``[B]`` for
``size == 1``) gives ``[B, layout.size]``; ``unpack`` accepts ``[..., layout.size]``.

    >>> layout = ObservationLayout([Field("bid", low=0.0), Field("budget", scale=2000.0, low=0.0)])
    >>> obs = layout.pack({"bid": 3.0, "budget": 1500.0})
    >>> float(layout.unpack(obs)["budget"])
    1500.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from auction_envs.core.errors import InvalidArgumentError

__all__ = ["Field", "ObservationLayout", "float32_box"]


def float32_box(low: Any, high: Any, shape: tuple[int, ...] | None = None) -> spaces.Box:
    """A float32 ``Box`` whose bounds are the float64 ``low``/``high`` rounded *outward*.

    ``spaces.Box(0.1, 0.7, dtype=float32)`` rounds 0.1 up and 0.7 down, so the space would reject
    its own documented bounds (and an equilibrium that sits on them); this box contains them.
    """
    low64 = np.asarray(low, dtype=np.float64)
    high64 = np.asarray(high, dtype=np.float64)
    if shape is not None:
        low64 = np.broadcast_to(low64, shape)
        high64 = np.broadcast_to(high64, shape)
    low32 = low64.astype(np.float32)
    high32 = high64.astype(np.float32)
    low32 = np.where(low32.astype(np.float64) > low64, np.nextafter(low32, np.float32(-np.inf)), low32)
    high32 = np.where(high32.astype(np.float64) < high64, np.nextafter(high32, np.float32(np.inf)),
                      high32)
    return spaces.Box(low32.astype(np.float32), high32.astype(np.float32), dtype=np.float32)


@dataclass(frozen=True)
class Field:
    """One named block of an observation.

    Args:
        name: the key of the field in :meth:`ObservationLayout.unpack`.
        size: number of entries (a scalar field has size 1 and unpacks without a trailing axis).
        low, high: bounds of the *stored* (scaled) entries, scalars or one per entry.
        scale: the stored entry is ``value / scale``; ``unpack`` multiplies it back.
        description: one line for the env docstring's observation table.
    """

    name: str
    size: int = 1
    low: float | tuple[float, ...] = -np.inf
    high: float | tuple[float, ...] = np.inf
    scale: float = 1.0
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InvalidArgumentError("Field.name", self.name, "a Python identifier")
        if not isinstance(self.size, (int, np.integer)) or isinstance(self.size, bool) or self.size < 1:
            raise InvalidArgumentError(f"Field({self.name!r}).size", self.size, "a positive integer")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise InvalidArgumentError(f"Field({self.name!r}).scale", self.scale, "a finite number > 0")
        low = np.broadcast_to(np.asarray(self.low, dtype=np.float64), (self.size,))
        high = np.broadcast_to(np.asarray(self.high, dtype=np.float64), (self.size,))
        if np.any(np.isnan(low)) or np.any(np.isnan(high)) or np.any(low > high):
            raise InvalidArgumentError(f"Field({self.name!r}) bounds", (self.low, self.high),
                                       "low <= high, no NaN")


class ObservationLayout:
    """An ordered set of :class:`Field`\\ s laid out back to back in one float32 vector."""

    def __init__(self, fields: Iterable[Field]) -> None:
        self.fields: tuple[Field, ...] = tuple(fields)
        if not self.fields:
            raise InvalidArgumentError("fields", self.fields, "at least one Field")
        names = [field.name for field in self.fields]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InvalidArgumentError("fields", duplicates, "unique field names")
        self._slices: dict[str, slice] = {}
        offset = 0
        for field in self.fields:
            self._slices[field.name] = slice(offset, offset + field.size)
            offset += field.size
        self.size = offset
        self._by_name = {field.name: field for field in self.fields}
        self._scale = np.concatenate([np.full(f.size, f.scale) for f in self.fields])
        self._low = np.concatenate([np.broadcast_to(np.asarray(f.low, np.float64), (f.size,))
                                    for f in self.fields])
        self._high = np.concatenate([np.broadcast_to(np.asarray(f.high, np.float64), (f.size,))
                                     for f in self.fields])

    # ------------------------------------------------------------------ structure
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._slices)

    def __contains__(self, name: object) -> bool:
        return name in self._slices

    def __len__(self) -> int:
        return self.size

    def slice(self, name: str) -> slice:
        """The entries of field ``name`` (for writing into a preallocated observation array)."""
        try:
            return self._slices[name]
        except KeyError:
            raise KeyError(f"no observation field {name!r}; fields: {list(self._slices)}") from None

    def field(self, name: str) -> Field:
        self.slice(name)
        return self._by_name[name]

    def space(self) -> spaces.Box:
        """The float32 ``Box`` of the layout (bounds rounded outward, see :func:`float32_box`)."""
        return float32_box(self._low, self._high)

    # ------------------------------------------------------------------ pack / unpack
    def pack(self, values: Mapping[str, Any], batch_shape: Sequence[int] = ()) -> np.ndarray:
        """Build float32 observations ``[*batch_shape, size]`` from values in natural units.

        ``values`` must give every field exactly once; a field of size 1 takes ``[*batch_shape]``
        (or a scalar), a larger one ``[*batch_shape, size]``. Values are stored as ``value / scale``.
        """
        unknown = sorted(set(values) - set(self._slices))
        missing = [name for name in self._slices if name not in values]
        if unknown or missing:
            raise KeyError(f"observation fields: unknown {unknown}, missing {missing}")
        batch = tuple(int(b) for b in batch_shape)
        out = np.empty((*batch, self.size), dtype=np.float64)
        for field in self.fields:
            block = np.asarray(values[field.name], dtype=np.float64)
            if field.size == 1 and block.shape == batch:
                block = block[..., None]
            out[..., self._slices[field.name]] = np.broadcast_to(block, (*batch, field.size))
        out /= self._scale
        return out.astype(np.float32)

    def unpack(self, observation: Any) -> dict[str, np.ndarray]:
        """Values in natural units by field name, from observations ``[..., size]``."""
        array = np.asarray(observation, dtype=np.float64)
        if array.shape[-1:] != (self.size,):
            raise ValueError(f"observation of shape {array.shape}; the layout has {self.size} entries")
        values = {}
        for field in self.fields:
            block = array[..., self._slices[field.name]] * field.scale
            values[field.name] = block[..., 0] if field.size == 1 else block
        return values

    def get(self, observation: Any, name: str) -> np.ndarray:
        """One field of ``observation`` in natural units (see :meth:`unpack`)."""
        field = self.field(name)
        array = np.asarray(observation, dtype=np.float64)
        block = array[..., self._slices[name]] * field.scale
        return block[..., 0] if field.size == 1 else block

    # ------------------------------------------------------------------ documentation
    def table(self) -> str:
        """The markdown field table for the env docstring's Observation Space section."""
        rows = ["| entries | field | scale | bounds | meaning |", "|---|---|---|---|---|"]
        for field in self.fields:
            where = self._slices[field.name]
            entries = str(where.start) if field.size == 1 else f"{where.start}–{where.stop - 1}"
            rows.append(f"| {entries} | `{field.name}` | {_number(field.scale)} | "
                        f"[{_bound(field.low)}, {_bound(field.high)}] | {field.description} |")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"ObservationLayout({', '.join(f'{f.name}:{f.size}' for f in self.fields)})"


def _number(value: float) -> str:
    return f"{value:g}"


def _bound(value: Any) -> str:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0 or np.all(array == array.flat[0]):
        scalar = float(array.flat[0])
        return {np.inf: "∞", -np.inf: "−∞"}.get(scalar, _number(scalar))
    return "per entry"
