"""The k-slot (uniform) second-price sealed-bid auction.

``n_slots`` identical slots are sold to single-unit bidders: the ``n_slots`` highest bids win (ties
broken uniformly at random), and every winner pays the highest *losing* bid, i.e. the
``(n_slots + 1)``-th highest bid, or 0 when there are no more bids than slots (the auction is not
contended). For ``n_slots = 1`` this is Vickrey's second-price auction; for ``n_slots = k`` it is the
"(k+1)-th price" rule of DRACO's admission control (paper 000, §III-A) and of VCG with unit demand.

Two implementations share one contract:

* :func:`second_price`: vectorized numpy, batchable over leading axes (one auction per batch row);
* :func:`second_price_reference`: a per-bid Python loop, kept as the readable specification that the
  tests and the throughput benchmark compare the vectorized version against.

:func:`second_price_ranking` is the single auction over a short Python list (the V2X market's
handful of bids per step): the same ranking and tie-break draws as :func:`second_price`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["second_price", "second_price_ranking", "second_price_reference"]


def second_price(
    bids: np.ndarray,
    n_slots: int | np.ndarray,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Winners and payments of k-slot second-price auctions, one per row of ``bids``.

    Args:
        bids: shape ``(..., n)``: the bids of ``n`` bidder positions; leading axes are independent
            auctions. ``NaN`` marks an absent bidder (no bid at that position): it never wins,
            never sets a price and does not count as a contender. Bids must otherwise be finite
            (negative bids are allowed and treated like any other number).
        n_slots: the number of slots ``k >= 0`` of each auction: an integer, or an integer array
            broadcastable to ``bids.shape[:-1]``.
        rng: generator used to break ties uniformly at random (one uniform key per position; a
            position with a larger key ranks higher among equal bids). ``None`` breaks ties by
            position, lowest index first (deterministic; useful for first-in first-out order when
            positions are sorted by arrival).

    Returns:
        ``(winners, payments)``, both of shape ``bids.shape``: ``winners`` is boolean, exactly
        ``min(k, number of present bids)`` ``True`` per auction; ``payments`` is float64: at each
        winner the auction's clearing price (the ``(k+1)``-th highest present bid, or 0 when there
        are at most ``k`` present bids), and 0 elsewhere.

    Raises:
        ValueError: ``bids`` has no bidder axis, contains an infinite value, or ``n_slots`` is
            negative, not integral, or does not broadcast to the batch shape.

    Example:
        >>> import numpy as np
        >>> winners, payments = second_price(np.array([5.0, 9.0, 7.0, 1.0]), 2)
        >>> winners.tolist(), payments.tolist()
        ([False, True, True, False], [0.0, 5.0, 5.0, 0.0])
    """
    bids = np.asarray(bids, dtype=np.float64)
    if bids.ndim < 1:
        raise ValueError(f"bids must have at least one axis (the bidders); got shape {bids.shape}")
    if np.any(np.isinf(bids)):
        raise ValueError("bids must be finite (NaN marks an absent bidder); got an infinite bid")
    if bids.ndim == 1 and isinstance(n_slots, (int, np.integer)) and not isinstance(n_slots, bool) \
            and n_slots >= 0:
        return _single_auction(bids, int(n_slots), rng)
    slots = np.asarray(n_slots)
    if slots.dtype.kind not in "iu":
        if slots.dtype.kind == "f" and np.all(np.isfinite(slots)) and np.all(slots == np.round(slots)):
            slots = slots.astype(np.int64)
        else:
            raise ValueError(f"n_slots must be integers; got {n_slots!r}")
    if np.any(slots < 0):
        raise ValueError(f"n_slots must be >= 0; got {n_slots!r}")
    batch = bids.shape[:-1]
    try:
        slots = np.broadcast_to(slots, batch).astype(np.int64)
    except ValueError:
        raise ValueError(f"n_slots of shape {np.shape(n_slots)} does not broadcast to the batch "
                         f"shape {batch}") from None
    n = bids.shape[-1]
    present = ~np.isnan(bids)
    if n == 0:
        return np.zeros(bids.shape, dtype=bool), np.zeros(bids.shape)
    # Rank: present before absent, then higher bid first, then tie key (random or by position).
    primary = np.where(present, -bids, np.inf)
    if rng is None:
        tie = np.broadcast_to(np.arange(n, dtype=np.float64), bids.shape)
    else:
        tie = -rng.random(bids.shape)
    order = np.lexsort((tie, primary), axis=-1)  # last key is the primary one
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(n), bids.shape), axis=-1)
    n_present = present.sum(axis=-1)
    winners = present & (rank < slots[..., None])
    # Clearing price: the bid ranked k-th (0-based), when it exists and is present.
    contended = n_present > slots
    index = np.minimum(slots, n - 1)[..., None]
    sorted_bids = np.take_along_axis(np.where(present, bids, 0.0), order, axis=-1)
    price = np.where(contended, np.take_along_axis(sorted_bids, index, axis=-1)[..., 0], 0.0)
    payments = np.where(winners, price[..., None], 0.0)
    return winners, payments


def _single_auction(bids: np.ndarray, k: int, rng: np.random.Generator | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The one-auction case of :func:`second_price` (same ranking, same random draws)."""
    n = bids.shape[0]
    present = ~np.isnan(bids)
    n_present = int(present.sum())
    tie = np.arange(n, dtype=np.float64) if rng is None else -rng.random(n)
    order = np.lexsort((tie, np.where(present, -bids, np.inf)))
    winners = np.zeros(n, dtype=bool)
    winners[order[:min(k, n_present)]] = True
    price = float(bids[order[k]]) if n_present > k else 0.0
    return winners, np.where(winners, price, 0.0)


def second_price_ranking(bids: list[float], n_slots: int, rng: np.random.Generator | None
                         ) -> tuple[list[int], float]:
    """One auction of finite ``bids`` (a list, all present) with ``n_slots >= 0`` slots:
    ``(ranking, price)``, the bid positions best first (the winners are ``ranking[:n_slots]``)
    and the clearing price every winner pays (the ``(n_slots + 1)``-th highest bid, 0 when not
    contended).

    Exactly :func:`second_price`'s outcome for the same ``rng`` state: it draws the same tie keys
    (one uniform per position; ``None``: ties by position, lowest first) and ranks by the same
    keys, so ``winners[ranking[:n_slots]]`` and the price agree bit for bit. Plain Python: for the
    few bids of one auction it is several times faster than the array version.
    """
    positions = range(len(bids))
    if rng is None:
        ranking = sorted(positions, key=lambda j: -bids[j])  # stable: equal bids by position
    else:
        keys = rng.random(len(bids)).tolist()
        ranking = sorted(positions, key=lambda j: (-bids[j], -keys[j]))
    price = bids[ranking[n_slots]] if len(bids) > n_slots else 0.0
    return ranking, price


def second_price_reference(
    bids: list[float | None] | np.ndarray,
    n_slots: int,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One auction, bid by bid in plain Python: the readable specification of :func:`second_price`.

    Same contract for a single auction (``bids`` one-dimensional; ``None`` or ``NaN`` = absent).
    With the same ``rng`` state it returns exactly what :func:`second_price` returns: it draws the
    same tie keys (one uniform per position, all positions) before looking at the bids.
    """
    values = [None if b is None or b != b else float(b) for b in bids]
    if n_slots < 0:
        raise ValueError(f"n_slots must be >= 0; got {n_slots!r}")
    keys = rng.random(len(values)).tolist() if rng is not None else [-i for i in range(len(values))]
    contenders = [i for i, b in enumerate(values) if b is not None]
    # Insertion into a list kept sorted by (bid, key), highest first.
    ranking: list[int] = []
    for i in contenders:
        position = 0
        while position < len(ranking):
            j = ranking[position]
            if (values[i], keys[i]) > (values[j], keys[j]):
                break
            position += 1
        ranking.insert(position, i)
    winners = np.zeros(len(values), dtype=bool)
    payments = np.zeros(len(values))
    price = values[ranking[n_slots]] if len(ranking) > n_slots else 0.0
    for i in ranking[:n_slots]:
        winners[i] = True
        payments[i] = price
    return winners, payments
