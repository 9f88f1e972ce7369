"""numba as an optional accelerator: one way to compile a kernel on first use.

numba comes with the ``fast`` extra (also in ``learners`` and ``bench``); without it every
compiled kernel has a numpy or scipy path, so the package imports and runs on numpy alone.

:func:`numpy_order_sum` is ``np.add.reduce`` of a float64 vector in numpy's own summation order,
for kernels that must reproduce numpy's sums bit for bit (it also runs as plain Python).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: numpy's pairwise summation works in blocks of this many terms (``PW_BLOCKSIZE``)
PAIRWISE_BLOCK = 128


def compiled_on_first_use(function: Callable[..., Any], helpers: Sequence[Callable[..., Any]] = ()
                          ) -> Callable[[], Callable[..., Any] | None]:
    """A getter for ``function`` compiled by numba (``njit``, cached on disk, GIL released), or
    ``None`` without numba. Compiled once, on the getter's first call; ``helpers``: plain
    functions that ``function`` calls, made callable from compiled code first."""

    @functools.cache
    def compiled() -> Callable[..., Any] | None:
        try:
            import numba
        except Exception:  # numba is optional (the ``fast`` extra)
            return None
        _register_next_double()
        for helper in helpers:
            numba.extending.register_jitable(helper)
        return numba.njit(cache=True, nogil=True)(function)

    compiled.__doc__ = f"``{function.__name__}`` compiled by numba (cached on disk), or None without numba."
    return compiled


_NEXT_DOUBLE = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_void_p)


def bit_generator_handle(rng: np.random.Generator) -> tuple[int, int]:
    """``(next_double, state)``: the addresses of ``rng``'s bit generator's ``next_double``
    function and state (numpy's documented ``bit_generator.ctypes`` interface). A kernel given
    them draws with :func:`next_double` the very uniforms ``rng.random()`` would, advancing
    ``rng``; two plain integers cost nothing to pass, where numba's ``Generator`` argument costs
    about 10 us a call to unbox."""
    interface = rng.bit_generator.ctypes
    return ctypes.cast(interface.next_double, ctypes.c_void_p).value or 0, interface.state_address


def next_double(function: int, state: int) -> float:
    """One uniform double in ``[0, 1)`` from the bit generator of :func:`bit_generator_handle`
    (numpy's ``next_double``, the draw of ``Generator.random``). Plain Python through ctypes;
    compiled code calls the function pointer directly."""
    return _NEXT_DOUBLE(function)(state)


@functools.cache
def _register_next_double() -> None:
    """Give :func:`next_double` its compiled implementation: an indirect call of the function
    pointer (numba imports here, once)."""
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic, overload

    @intrinsic
    def _call(typingctx, function, state):  # pragma: no cover (numba)
        def codegen(context, builder, signature, args):
            void_pointer = ir.IntType(8).as_pointer()
            function_type = ir.FunctionType(ir.DoubleType(), [void_pointer])
            pointer = builder.inttoptr(args[0], function_type.as_pointer())
            return builder.call(pointer, [builder.inttoptr(args[1], void_pointer)])

        return types.float64(function, state), codegen

    @overload(next_double)
    def _next_double(function, state):  # pragma: no cover (numba)
        if isinstance(function, types.Integer) and isinstance(state, types.Integer):
            return lambda function, state: _call(function, state)
        return None


def _block_sum(values, start, size):  # pragma: no cover (numba)
    """numpy's ``pairwise_sum`` of ``values[start:start + size]`` for ``size <= PAIRWISE_BLOCK``:
    a plain loop below 8 terms, else eight interleaved accumulators combined pairwise, then the
    remainder."""
    if size < 8:
        total = 0.0
        for i in range(start, start + size):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    end = start + size - size % 8
    for i in range(start + 8, end, 8):
        r0 += values[i]
        r1 += values[i + 1]
        r2 += values[i + 2]
        r3 += values[i + 3]
        r4 += values[i + 4]
        r5 += values[i + 5]
        r6 += values[i + 6]
        r7 += values[i + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(end, start + size):
        total += values[i]
    return total


def numpy_order_sum(values, size):  # pragma: no cover (numba)
    """``np.add.reduce(values[:size])`` for a float64 vector, bit for bit: the reduction's
    identity ``0.0`` plus numpy's pairwise sum, which halves a run longer than
    ``PAIRWISE_BLOCK`` (the first half a multiple of 8 terms) and sums the blocks as above.
    The halving is walked without recursion (numba compiles no recursive helper)."""
    if size <= PAIRWISE_BLOCK:
        return 0.0 + _block_sum(values, 0, size)
    # frames of the split tree, depth first: start, size, phase (0: go left, 1: go right,
    # 2: add the two halves); a split at least halves the size, so 64 frames always suffice
    starts = np.empty(64, dtype=np.int64)
    sizes = np.empty(64, dtype=np.int64)
    phases = np.zeros(64, dtype=np.int64)
    partial = np.empty(64)
    top, n_partial = 0, 0
    starts[0], sizes[0] = 0, size
    while top >= 0:
        length = sizes[top]
        if length <= PAIRWISE_BLOCK:
            partial[n_partial] = _block_sum(values, starts[top], length)
            n_partial += 1
            top -= 1
            continue
        half = length // 2
        half -= half % 8
        if phases[top] == 0:
            phases[top] = 1
            starts[top + 1], sizes[top + 1], phases[top + 1] = starts[top], half, 0
            top += 1
        elif phases[top] == 1:
            phases[top] = 2
            starts[top + 1], sizes[top + 1], phases[top + 1] = starts[top] + half, length - half, 0
            top += 1
        else:
            n_partial -= 1
            partial[n_partial - 1] = partial[n_partial - 1] + partial[n_partial]
            top -= 1
    return 0.0 + partial[0]


#: the helpers a kernel calling :func:`numpy_order_sum` passes to :func:`compiled_on_first_use`
NUMPY_ORDER_SUM = (_block_sum, numpy_order_sum)
