"""Double-auction matching for the cloud market (paper 004, RTRM) and its two baselines.

(About 500 lines, half of them docstrings: every rule of the market and its three mechanism objects
in one place.) Pure functions, no state: the env (``auction_envs.envs.cloud``) computes what is
fixed for a step over the whole batch in numpy and decides buyer by buyer (matching is sequential
because every match books capacity); the per-buyer functions (:func:`select_winner`,
:func:`saw_normalize_list`, the scorers) work on plain float lists, the same arithmetic at a
fraction of numpy's per-call cost on a handful of providers. :func:`earliest_start` runs as
compiled loops where numba (optional) is installed. Shapes use
``n`` providers, ``m`` buyers, ``R`` resource types, ``K`` quality parameters and ``H`` future time
slots.

Pricing
    * :func:`contest_success` -- the contest success function ``eta`` of paper eq. (3), in the paper's
      form (the denominator leaves buyer ``j`` out) or the textbook form (it includes ``j``).
    * :func:`utilization_term` -- ``Gamma_ij = 1 + weight * (m * eta_j) * U_ij``: our reading of
      paper eq. (2) (``U_ij`` the predicted utilization of provider ``i`` over the next ``T`` steps
      with ``j`` admitted, ``m * eta_j`` the buyer's contest strength relative to the batch mean).
    * :func:`offered_prices` -- paper eq. (1): ``op_ij^r = bp_i^r (1 + act_ij) Gamma_ij``.
    * :func:`icaa_demand_factor` -- ICAA's demand-based price factor.

Matching
    * :func:`saw_normalize`, :func:`saw_preference` -- simple additive weighting, paper eqs.
      (11)-(12).
    * :func:`earliest_start` -- when a provider can start a request within its maximum wait.
    * :func:`select_winner` -- the best and second-best feasible providers, optionally restricted to
      providers under their fairness quota (:func:`under_quota`).
    * :func:`gsp_payment`, :func:`cdara_payment` -- generalized second price (paper eq. 14) and
      CDARA's split-the-difference price.

Mechanisms as objects
    * :class:`RTRMRules`, :class:`CDARARules`, :class:`ICAARules` -- one interface (``asks``,
      ``scorer``, ``payment``) so that a market steps without branching on the mechanism's name;
      :data:`MECHANISM_RULES` maps the names to the classes.

Metrics
    * :func:`jain_index` -- Jain's fairness index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from auction_envs._numba import compiled_on_first_use

CSF_FORMS = ("exclusive", "inclusive")
SINGLE_FEASIBLE_RULES = ("own", "reserve")


# ---------------------------------------------------------------------------- pricing
def contest_success(bids: np.ndarray, waits: np.ndarray, sigma: float = 0.5,
                    form: str = "exclusive") -> np.ndarray:
    """Contest success function of each buyer of a batch (paper eq. 3).

    Each buyer's strength is ``x_j = bid_j / w_j ** sigma`` (budget over maximum wait).

    * ``form="exclusive"`` (the paper's printed formula): ``eta_j = x_j / sum_{b != j} x_b``. With a
      single buyer the sum is empty; we define ``eta = 1`` then.
    * ``form="inclusive"`` (Skaperdas' contest success function): ``eta_j = x_j / sum_b x_b``,
      a probability vector.

    Args:
        bids: budgets, shape ``(m,)``, > 0.
        waits: maximum waiting times, shape ``(m,)``, > 0.
        sigma: the contest noise, ``0 < sigma <= 1`` (0.5 in the paper).
        form: ``"exclusive"`` or ``"inclusive"``.

    Returns:
        ``eta``, shape ``(m,)`` (empty for an empty batch).
    """
    if form not in CSF_FORMS:
        raise ValueError(f"form must be one of {CSF_FORMS}; got {form!r}")
    bids = np.asarray(bids, dtype=np.float64)
    waits = np.asarray(waits, dtype=np.float64)
    if bids.shape != waits.shape or bids.ndim != 1:
        raise ValueError(f"bids and waits must be 1-D of one shape; got {bids.shape}, {waits.shape}")
    if bids.size == 0:
        return np.zeros(0)
    if np.any(bids <= 0) or np.any(waits <= 0):
        raise ValueError("bids and waits must be > 0")
    strength = bids / waits ** sigma
    total = strength.sum()
    if form == "inclusive":
        return strength / total
    others = total - strength
    if bids.size == 1:
        return np.ones(1)
    return strength / others


def utilization_term(eta: np.ndarray, predicted_utilization: np.ndarray,
                     weight: float = 1.0) -> np.ndarray:
    """``Gamma_ij = 1 + weight * (m * eta_j) * U_ij`` (our reading of paper eq. 2).

    Args:
        eta: contest success of the ``m`` buyers, shape ``(m,)``.
        predicted_utilization: ``U_ij``, shape ``(n, m)``: provider ``i``'s mean utilization over the
            next ``T`` steps if buyer ``j``'s request were admitted now.
        weight: scale of the term (0 switches it off: ``Gamma = 1``).

    Returns:
        ``Gamma``, shape ``(n, m)``, ``>= 1``.
    """
    eta = np.asarray(eta, dtype=np.float64)
    strength = eta.size * eta
    return 1.0 + weight * strength[None, :] * np.asarray(predicted_utilization, dtype=np.float64)


def offered_prices(base_prices: np.ndarray, multipliers: np.ndarray,
                   gamma: np.ndarray | float = 1.0) -> np.ndarray:
    """Offered unit prices ``op_ij^r = bp_i^r (1 + act_ij) Gamma_ij`` (paper eq. 1).

    Args:
        base_prices: ``bp``, shape ``(n, R)``.
        multipliers: adjustment multipliers ``act``, shape ``(n, m)``.
        gamma: ``Gamma``, shape ``(n, m)`` or a scalar (1 for fixed-price mechanisms).

    Returns:
        unit prices, shape ``(n, m, R)``.
    """
    base = np.asarray(base_prices, dtype=np.float64)
    factor = (1.0 + np.asarray(multipliers, dtype=np.float64)) * np.asarray(gamma, dtype=np.float64)
    return base[:, None, :] * factor[..., None]


def bundle_cost(requests: np.ndarray, unit_prices: np.ndarray) -> np.ndarray:
    """Price of each buyer's bundle at each provider: ``sum_r R_j^r p_ij^r``.

    Args:
        requests: ``(m, R)`` in price units.
        unit_prices: ``(n, m, R)`` or ``(n, R)`` (the same prices for every buyer).

    Returns:
        ``(n, m)``.
    """
    requests = np.asarray(requests, dtype=np.float64)
    prices = np.asarray(unit_prices, dtype=np.float64)
    if prices.ndim == 2:
        return prices @ requests.T
    return np.einsum("nmr,mr->nm", prices, requests)


def icaa_demand_factor(demand: np.ndarray, available: np.ndarray,
                       elasticity: float = 1.0) -> np.ndarray:
    """ICAA's demand-based price factor per provider and resource.

    ``rho_i^r = D^r / (n * A_i^r)`` is the batch's total request of resource ``r`` against provider
    ``i``'s free capacity (as if the demand were spread evenly over the ``n`` providers); the factor
    ``1 + elasticity * rho / (1 + rho)`` rises from 1 (no demand) towards ``1 + elasticity`` (demand
    far above what is free; also when nothing is free).

    Args:
        demand: ``D``, shape ``(R,)``, >= 0.
        available: ``A``, shape ``(n, R)``, >= 0.

    Returns:
        factors, shape ``(n, R)``, in ``[1, 1 + elasticity]``.
    """
    demand = np.asarray(demand, dtype=np.float64)
    available = np.asarray(available, dtype=np.float64)
    n = available.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = demand[None, :] / (n * available)
        share = np.where(np.isinf(rho) | np.isnan(rho), np.where(demand[None, :] > 0, 1.0, 0.0),
                         rho / (1.0 + rho))
    return 1.0 + elasticity * share


# ---------------------------------------------------------------------------- matching
def saw_normalize(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Simple-additive-weighting normalization over the last axis (paper eq. 12).

    With ``k_min``, ``k_max`` the extremes over the last axis (the providers):
    higher-is-better criteria map to ``(k - k_min) / (k_max - k_min)``, lower-is-better ones to
    ``(k_max - k) / (k_max - k_min)``, so the best provider gets 1 and the worst 0; every entry is 1
    when ``k_max = k_min``. (Paper eq. 12 writes ``(k_ref - k) psi / (k_max - k_min)``; this is that
    formula with ``k_ref`` the worst value, the sign convention of Zeng et al. 2003 that it cites.)

    Returns:
        normalized values in ``[0, 1]``, the shape of ``values``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        return np.array(saw_normalize_list(values.tolist(), higher_is_better))
    low = values.min(axis=-1, keepdims=True)
    high = values.max(axis=-1, keepdims=True)
    spread = high - low
    flat = spread <= 1e-12 * np.maximum(np.abs(high), 1.0)
    safe = np.where(flat, 1.0, spread)
    normalized = (values - low) / safe if higher_is_better else (high - values) / safe
    return np.where(flat, 1.0, normalized)


def saw_normalize_list(values: Sequence[float], higher_is_better: bool) -> list[float]:
    """:func:`saw_normalize` of one criterion over the providers, on plain floats: the matching's
    per-buyer hot path (a handful of providers, where numpy's per-call cost dominates). The same
    IEEE operations as the array form, so the same bits."""
    low, high = min(values), max(values)
    spread = high - low
    if spread <= 1e-12 * max(abs(high), 1.0):
        return [1.0] * len(values)
    if higher_is_better:
        return [(value - low) / spread for value in values]
    return [(high - value) / spread for value in values]


def saw_preference(quality: np.ndarray, higher_is_better: np.ndarray | list[bool],
                   bids: np.ndarray | float) -> np.ndarray:
    """Preference factor ``v(p, b) = mean_q N(k_q^p) / sqrt(bid_b)`` (paper eq. 11).

    Args:
        quality: ``(..., n, K)``: quality parameter ``q`` of provider ``p`` for buyer ``...``.
        higher_is_better: ``(K,)`` booleans (``psi = +1`` entries).
        bids: budgets broadcastable to ``quality.shape[:-2]``.

    Returns:
        ``v``, shape ``(..., n)``.
    """
    quality = np.asarray(quality, dtype=np.float64)
    better = np.asarray(higher_is_better, dtype=bool)
    if better.shape != (quality.shape[-1],):
        raise ValueError(f"{better.size} directions for {quality.shape[-1]} quality parameters")
    # normalize each criterion over the providers axis (-2): saw_normalize on the transposed view
    normalized = np.where(better, saw_normalize(np.swapaxes(quality, -1, -2), True).swapaxes(-1, -2),
                          saw_normalize(np.swapaxes(quality, -1, -2), False).swapaxes(-1, -2))
    bids = np.asarray(bids, dtype=np.float64)
    return normalized.mean(axis=-1) / np.sqrt(bids)[..., None]


def earliest_start(free: np.ndarray, requests: np.ndarray, lengths: np.ndarray,
                   max_waits: np.ndarray, tolerance: float = 1e-9, check: bool = True) -> np.ndarray:
    """Earliest start of each request at each provider within its maximum wait.

    A request ``j`` fits provider ``i`` at start ``tau`` when, for every time slot
    ``tau, ..., tau + s_j - 1``, every resource has ``free >= request``. Only
    ``tau = 0, ..., w_j`` are allowed (0 = this step).

    Args:
        free: ``(n, H, R)`` free capacity per provider, future slot and resource.
        requests: ``(m, R)``; lengths: ``(m,)`` integers in ``[1, H]``; max_waits: ``(m,)``
            integers ``>= 0`` with ``w_j + s_j <= H``.
        check: check the lengths and waits (the matching, which recomputes one provider's starts
            after every booking from already checked requests, skips it).

    Returns:
        ``(n, m)`` int64: the earliest start slot, or ``-1`` when the request cannot start in time.

    With numba installed (optional) the answer comes from compiled loops
    (:func:`_earliest_start_loops`: the same comparisons, so the same integers); the array form
    below is the path without it.
    """
    free = np.asarray(free, dtype=np.float64)
    requests = np.asarray(requests, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.int64)
    max_waits = np.asarray(max_waits, dtype=np.int64)
    n, horizon, _ = free.shape
    m = requests.shape[0]
    if m == 0:
        return np.zeros((n, 0), dtype=np.int64)
    if check and (np.any(lengths < 1) or np.any(max_waits < 0)
                  or np.any(lengths + max_waits > horizon)):
        raise ValueError("need 1 <= s_j and 0 <= w_j with w_j + s_j <= H")
    compiled = _compiled_earliest_start_loops()
    if compiled is not None:
        out = np.empty((n, m), dtype=np.int64)
        compiled(free, requests, lengths, max_waits, float(tolerance), out)
        return out
    fits = (free[:, None, :, :] + tolerance >= requests[None, :, None, :]).all(axis=-1)  # n,m,H
    fitting_slots = np.zeros((n, m, horizon + 1), dtype=np.int64)  # fitting slots before each
    np.cumsum(fits, axis=-1, out=fitting_slots[..., 1:])
    # start tau is possible when all s_j slots from tau fit; only tau <= w_j <= max(w) counts
    last_start = int(max_waits.max())
    starts = np.arange(last_start + 1)
    ends = np.minimum(starts[None, :] + lengths[:, None], horizon)  # m, last_start + 1
    window = (fitting_slots[:, np.arange(m)[:, None], ends]
              - fitting_slots[..., :last_start + 1])
    ok = (window == lengths[:, None]) & (starts[None, :] <= max_waits[:, None])
    first = ok.argmax(axis=-1)
    return np.where(ok.any(axis=-1), first, -1)


def _earliest_start_loops(free: np.ndarray, requests: np.ndarray, lengths: np.ndarray,
                          max_waits: np.ndarray, tolerance: float, out: np.ndarray) -> None:
    """:func:`earliest_start` as loops, for numba (the same comparisons, integer results: the
    same answer as the array form): walk the slots, counting the fitting ones in a row; the first
    time the run reaches ``s_j``, the run's first slot is the earliest start."""
    n, _, resources = free.shape
    for i in range(n):
        for j in range(requests.shape[0]):
            out[i, j] = -1
            run = 0
            for slot in range(max_waits[j] + lengths[j]):
                fits = True
                for r in range(resources):
                    if not free[i, slot, r] + tolerance >= requests[j, r]:
                        fits = False
                        break
                run = run + 1 if fits else 0
                if run == lengths[j]:
                    out[i, j] = slot - lengths[j] + 1
                    break


_compiled_earliest_start_loops = compiled_on_first_use(_earliest_start_loops)


def under_quota(wins: np.ndarray, share: float, min_wins: int = 1) -> np.ndarray:
    """Providers below their fairness quota.

    The quota is ``q = max(min_wins, floor(share * W / n))`` with ``W = sum(wins)`` the wins of all
    ``n`` providers so far in the episode; a provider is under quota when ``wins_p < q``. With
    ``share = 1`` the quota is the equal share of wins; ``min_wins = 1`` makes every provider that
    has not yet won count as under quota.
    """
    wins = np.asarray(wins)
    quota = max(int(min_wins), int(np.floor(share * wins.sum() / wins.size + 1e-12)))
    return wins < quota


def select_winner(scores: Sequence[float], feasible: Sequence[bool],
                  priority: Sequence[bool] | None = None) -> tuple[int, int]:
    """The winner and the runner-up among feasible providers (paper eq. 13 and ``p'`` of eq. 14).

    The winner is the highest-scoring feasible provider -- restricted to the ``priority`` providers
    (e.g. those under their fairness quota) when any of them is feasible. The runner-up is the
    highest-scoring feasible provider other than the winner (with or without priority). Ties go to
    the lowest index. Scores are finite. Plain Python over the few providers: it runs once per
    buyer, where numpy's per-call cost would dominate.

    Returns:
        ``(winner, runner_up)``, ``-1`` where there is none.
    """
    scores, feasible = _plain_list(scores), _plain_list(feasible)
    pool = feasible
    if priority is not None:
        preferred = [ok and bool(first) for ok, first in zip(feasible, _plain_list(priority))]
        if any(preferred):
            pool = preferred
    winner = _best(scores, pool, skip=-1)
    runner_up = _best(scores, feasible, skip=winner) if winner >= 0 else -1
    return winner, runner_up


def _best(scores: list[float], allowed: list[bool], skip: int) -> int:
    """The index of the highest score among ``allowed`` (not ``skip``), the lowest on ties; -1."""
    best, best_score = -1, 0.0
    for index, (ok, score) in enumerate(zip(allowed, scores)):
        if ok and index != skip and (best < 0 or score > best_score):
            best, best_score = index, score
    return best


def _plain_list(values: Sequence[Any]) -> list[Any]:
    if isinstance(values, list):  # read only: no copy
        return values
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def gsp_payment(offers: Sequence[float], winner: int, runner_up: int, bid: float,
                reserve: float, single_feasible: str = "own") -> float:
    """Generalized second price for one buyer (paper eq. 14), with our documented edge rules.

    * the buyer pays her bundle at the runner-up's offered prices, ``offers[runner_up]``;
    * with no runner-up (the winner is the only feasible provider): ``single_feasible="own"`` pays
      the winner's own offer (first price), ``"reserve"`` pays the winner's reserve (its base cost);
    * the result is floored at the winner's reserve (base prices are minimum selling prices) and
      capped at the buyer's budget ``bid`` (a buyer never pays more than she bid).

    Args:
        offers: the ``n`` bundle prices offered to this buyer; winner, runner_up: indices (-1: none).
    """
    if single_feasible not in SINGLE_FEASIBLE_RULES:
        raise ValueError(f"single_feasible must be one of {SINGLE_FEASIBLE_RULES}")
    if winner < 0:
        return 0.0
    if runner_up >= 0:
        price = float(offers[runner_up])
    elif single_feasible == "own":
        price = float(offers[winner])
    else:
        price = float(reserve)
    return float(min(max(price, reserve), bid))


def cdara_payment(bid: float, ask: float) -> float:
    """CDARA's trade price: the mid-point ``(bid + ask) / 2`` of the buyer's budget and the ask."""
    return 0.5 * (float(bid) + float(ask))


# ---------------------------------------------------------------------------- mechanisms
#: ``score(j, utilization, waits) -> [n]``: the preference of buyer ``j`` for every provider, given
#: the providers' current utilization and the buyer's predicted wait at each (higher is better);
#: plain float lists (the matching calls it once per buyer).
Scorer = Callable[[int, Sequence[float], Sequence[float]], list[float]]


class RTRMRules:
    """Paper 004's RTRM: utilization-adjusted prices, SAW preference, generalized second price.

    Args:
        single_feasible: the payment when the winner is the only feasible provider (see
            :func:`gsp_payment`).
    """

    name = "rtrm"
    #: the quality parameters of the preference (eq. 11) and whether higher is better
    QUALITY = (("offered price", False), ("utilization", True), ("predicted wait", False))

    def __init__(self, single_feasible: str = "own") -> None:
        if single_feasible not in SINGLE_FEASIBLE_RULES:
            raise ValueError(f"single_feasible must be one of {SINGLE_FEASIBLE_RULES}")
        self.single_feasible = single_feasible
        self._better = np.array([better for _, better in self.QUALITY])

    def asks(self, base_prices: np.ndarray, requests: np.ndarray, multipliers: np.ndarray,
             gamma: np.ndarray, free_now: np.ndarray) -> np.ndarray:
        """Bundle price offered to every buyer, ``(n, m)``: eq. (1) with the utilization term."""
        return bundle_cost(requests, offered_prices(base_prices, multipliers, gamma))

    def scorer(self, asks: np.ndarray, bids: np.ndarray) -> Scorer:
        """SAW preference (eqs. 11-12); the price criterion is normalized once for the batch."""
        price = saw_normalize(asks.T, False).tolist()  # (m, n): fixed for the step
        root_bids = np.sqrt(bids).tolist()
        criteria = len(self.QUALITY)

        def score(j: int, utilization: Sequence[float], waits: Sequence[float]) -> list[float]:
            # the mean of the three criteria, summed left to right as np.mean does
            root = root_bids[j]
            return [(p + u + w) / criteria / root for p, u, w in
                    zip(price[j], saw_normalize_list(utilization, True),
                        saw_normalize_list(waits, False))]
        return score

    def payment(self, asks: Sequence[float], winner: int, runner_up: int, bid: float,
                reserve: float) -> float:
        return gsp_payment(asks, winner, runner_up, bid, reserve, self.single_feasible)


class _LowestAskRules:
    """Shared by the baselines: the lowest feasible ask wins (the agents' multipliers are ignored
    unless ``markup is None``)."""

    name = ""

    def scorer(self, asks: np.ndarray, bids: np.ndarray) -> Scorer:
        negative = (-asks).T.tolist()  # (m, n)

        def score(j: int, utilization: Sequence[float], waits: Sequence[float]) -> list[float]:
            return negative[j]
        return score


class CDARARules(_LowestAskRules):
    """CDARA (Samimi et al. 2016): fixed prices, lowest ask wins, the buyer pays ``(bid + ask)/2``.

    Args:
        markup: the providers' own fixed markup over base prices (ask ``(1 + markup) x`` base
            cost, whatever the agents do); ``None`` prices with the agents' multipliers instead.
    """

    name = "cdara"

    def __init__(self, markup: float | None = 0.0) -> None:
        self.markup = markup

    def asks(self, base_prices: np.ndarray, requests: np.ndarray, multipliers: np.ndarray,
             gamma: np.ndarray, free_now: np.ndarray) -> np.ndarray:
        return bundle_cost(requests, offered_prices(base_prices, _own(self.markup, multipliers)))

    def payment(self, asks: Sequence[float], winner: int, runner_up: int, bid: float,
                reserve: float) -> float:
        return cdara_payment(bid, asks[winner])


class ICAARules(_LowestAskRules):
    """ICAA (Kong et al. 2015): demand-based prices (:func:`icaa_demand_factor`), the lowest ask
    wins and the buyer pays it."""

    name = "icaa"

    def __init__(self, elasticity: float = 1.0, markup: float | None = 0.0) -> None:
        self.elasticity = float(elasticity)
        self.markup = markup

    def asks(self, base_prices: np.ndarray, requests: np.ndarray, multipliers: np.ndarray,
             gamma: np.ndarray, free_now: np.ndarray) -> np.ndarray:
        factor = icaa_demand_factor(requests.sum(axis=0), free_now, self.elasticity)
        return bundle_cost(requests, offered_prices(base_prices * factor,
                                                    _own(self.markup, multipliers)))

    def payment(self, asks: Sequence[float], winner: int, runner_up: int, bid: float,
                reserve: float) -> float:
        return float(asks[winner])


def _own(markup: float | None, multipliers: np.ndarray) -> np.ndarray:
    """A baseline's own fixed markup for every buyer, or the agents' multipliers (``None``)."""
    return multipliers if markup is None else np.full_like(multipliers, markup, dtype=np.float64)


MECHANISM_RULES = {"rtrm": RTRMRules, "cdara": CDARARules, "icaa": ICAARules}


# ---------------------------------------------------------------------------- metrics
def jain_index(values: np.ndarray) -> float:
    """Jain's fairness index ``(sum x)^2 / (n sum x^2)`` in ``[1/n, 1]``; 1 when every x is 0."""
    values = np.asarray(values, dtype=np.float64)
    square = float(np.sum(values ** 2))
    if square == 0.0:
        return 1.0
    return float(values.sum() ** 2 / (values.size * square))
