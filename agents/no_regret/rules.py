"""Vectorized bidding rules: the update equations of the no-regret learners, numpy only.

A *rule* holds the state of ``m`` bidders in ``B`` independent runs at once (arrays of shape
``(B, m)``) and knows nothing of any env: it plays ``bids()`` and is fed the per-agent feedback
arrays it declares in ``feedback`` (env info keys, or ``"reward"`` for the agent's own reward).
The same rule object drives an env through :class:`agents.no_regret.NoRegretLearner` (``B = 1``)
and the batched simulation :func:`agents.no_regret.kelly.simulate` (``B`` runs): one set of
equations, two drivers.

Continuous rules (paper 001, eqs. (14)-(20)); ``clip`` is the projection on ``[low, high]``:

* ``OGD``:  ``z <- clip(z + eta_t g)`` (online gradient ascent; reads ``gradient``)
* ``DAQ``:  ``Y <- Y + g``, ``z <- clip(eta_t Y)`` (dual averaging, quadratic regularizer, ``Y_0 = 0``)
* ``RRM``:  ``Y <- Y + eta_t g``, ``z <- clip(Y)`` (regularized Robbins-Monro, quadratic; ``Y_0 = 0``)
* ``BestResponse``: ``z <- best_response`` (the best bid against last round's others)

with ``t`` the number of feedback rounds seen (1 at the first update) and the learning rate
``eta = D / (G sqrt T)`` (``rate="fixed"``) or ``eta_t = D / (2 G sqrt t)`` (``rate="varying"``),
``D = high - low`` per agent and ``G`` a bound on ``|g|`` (exposed; paper 001's Table I used
``G = 1``). The first bid is drawn i.i.d. ``U[low, high]`` from the rule's generator unless given.

Discrete rules over a grid of ``K`` bids ``low + (high - low) * k / (K - 1)``:

* ``Hedge`` (full information): exponential weights on the payoffs every grid bid would have earned
  (info key ``counterfactual_payoffs``, shape ``(K,)`` per agent), rescaled to ``[0, 1]`` from
  the env's payoff range (the driver passes it; or ``reward_range``); ``eta = sqrt(8 ln K / T)``
  gives regret ``<= sqrt(T ln K / 2)``.
* ``EXP3`` (bandit): reads only its own reward; importance-weighted loss estimates,
  ``eta = sqrt(2 ln K / (T K))``, expected regret ``<= sqrt(2 T K ln K)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import restore_rng, rng_state
from auction_envs.oracles.kelly import bid_grid

RATES = ("fixed", "varying")


class BidRule:
    """Base class: state of ``(B, m)`` bidders; subclasses implement ``_start`` and ``update``."""

    #: the feedback keys ``update`` reads: env info keys, or ``"reward"`` (own reward only)
    feedback: tuple[str, ...] = ()
    name = "rule"

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.low = self.high = np.zeros(0)
        self.t = 0

    # ------------------------------------------------------------------ lifecycle
    def reset(self, batch: int, low: np.ndarray, high: np.ndarray, rng: np.random.Generator,
              initial_bids: np.ndarray | None = None,
              reward_range: tuple[Any, Any] | None = None) -> None:
        """Start ``batch`` runs of ``len(low)`` bidders with bids in ``[low, high]``.

        ``initial_bids`` (shape ``(batch, m)``) overrides the i.i.d. uniform first bids.
        ``reward_range`` is the env's payoff scale ``(lo, hi)`` (scalars or one per bidder), given
        by the driver; the rules that rescale payoffs (Hedge, EXP3) need it, the others ignore it.
        """
        self.low = np.asarray(low, dtype=np.float64).reshape(-1)
        self.high = np.asarray(high, dtype=np.float64).reshape(-1)
        if self.low.shape != self.high.shape or np.any(self.high < self.low):
            raise ValueError(f"need low <= high of one shape; got {self.low!r}, {self.high!r}")
        self._set_reward_range(reward_range)
        self.rng = rng
        self.t = 0
        shape = (int(batch), self.low.size)
        if initial_bids is None:
            start = rng.uniform(self.low, self.high, size=shape)
        else:
            start = np.array(initial_bids, dtype=np.float64).reshape(shape)
            if np.any(start < self.low) or np.any(start > self.high):
                raise ValueError("initial_bids outside [low, high]")
        self._start(start)

    def _set_reward_range(self, reward_range: tuple[Any, Any] | None) -> None:
        """Rules that read payoffs on a scale override this (the others need no scale)."""

    def _start(self, bids: np.ndarray) -> None:
        raise NotImplementedError

    def bids(self, explore: bool = True) -> np.ndarray:
        """The bids to play this round, shape ``(B, m)``."""
        raise NotImplementedError

    def update(self, feedback: dict[str, np.ndarray]) -> None:
        """Learn from one round; ``feedback[key]`` has shape ``(B, m)`` (or ``(B, m, K)``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    _arrays: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"t": self.t, "low": self.low, "high": self.high,
                                 "rng": rng_state(self.rng)}
        state.update({name: getattr(self, name) for name in self._arrays})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.t = int(state["t"])
        self.low = np.asarray(state["low"], dtype=np.float64)
        self.high = np.asarray(state["high"], dtype=np.float64)
        self.rng = restore_rng(state["rng"])
        for name in self._arrays:
            setattr(self, name, np.array(state[name]))


class _GradientRule(BidRule):
    """Shared learning-rate logic of OGD, DAQ and RRM."""

    feedback = ("gradient",)

    def __init__(self, rate: str = "varying", G: float = 1.0, horizon: int | None = None) -> None:
        super().__init__()
        if rate not in RATES:
            raise ValueError(f"rate must be one of {RATES}; got {rate!r}")
        if not (np.isfinite(G) and G > 0):
            raise ValueError(f"G must be > 0; got {G!r}")
        if rate == "fixed" and (horizon is None or horizon < 1):
            raise ValueError("a fixed learning rate needs the horizon T >= 1")
        self.rate, self.G, self.horizon = rate, float(G), horizon
        self.name = f"{type(self).__name__}_{'F' if rate == 'fixed' else 'V'}"

    def eta(self, t: int) -> np.ndarray:
        """The per-agent learning rate at feedback round ``t >= 1``, shape ``(m,)``."""
        D = self.high - self.low
        if self.rate == "fixed":
            return D / (self.G * np.sqrt(self.horizon))
        return D / (2.0 * self.G * np.sqrt(t))

    def bids(self, explore: bool = True) -> np.ndarray:
        return self.z.copy()


class OGD(_GradientRule):
    """Online gradient ascent with projection: ``z <- clip(z + eta_t g)``."""

    _arrays = ("z",)

    def _start(self, bids: np.ndarray) -> None:
        self.z = bids

    def update(self, feedback: dict[str, np.ndarray]) -> None:
        self.t += 1
        self.z = np.clip(self.z + self.eta(self.t) * feedback["gradient"], self.low, self.high)


class _DualRule(_GradientRule):
    """A rule that keeps a score ``Y`` (aggregated gradients) beside the bid ``z``."""

    _arrays = ("z", "Y")

    def _start(self, bids: np.ndarray) -> None:
        self.z = bids
        self.Y = np.zeros_like(bids)


class DAQ(_DualRule):
    """Dual averaging with a quadratic regularizer (lazy OGD): ``z = clip(eta_t sum_s g_s)``."""

    def update(self, feedback: dict[str, np.ndarray]) -> None:
        self.t += 1
        self.Y = self.Y + feedback["gradient"]
        self.z = np.clip(self.eta(self.t) * self.Y, self.low, self.high)


class RRM(_DualRule):
    """Regularized Robbins-Monro, quadratic regularizer (RMQ): ``Y += eta_t g``, ``z = clip(Y)``."""

    def update(self, feedback: dict[str, np.ndarray]) -> None:
        self.t += 1
        self.Y = self.Y + self.eta(self.t) * feedback["gradient"]
        self.z = np.clip(self.Y, self.low, self.high)


class BestResponse(BidRule):
    """Myopic best response: bid the env's ``best_response`` to last round's others."""

    feedback = ("best_response",)
    name = "BR"
    _arrays = ("z",)

    def _start(self, bids: np.ndarray) -> None:
        self.z = bids

    def bids(self, explore: bool = True) -> np.ndarray:
        return self.z.copy()

    def update(self, feedback: dict[str, np.ndarray]) -> None:
        self.t += 1
        self.z = np.clip(np.asarray(feedback["best_response"], dtype=np.float64),
                         self.low, self.high)


class _GridRule(BidRule):
    """Exponential weights over ``K`` evenly spaced bids per agent.

    Payoffs are rescaled from ``reward_range = (lo, hi)`` to ``[0, 1]``. Leave it ``None`` (the
    default) to take the env's scale: :class:`~agents.no_regret.NoRegretLearner` reads it from
    the env's documented ``payoff_range(agent)`` and :func:`~agents.no_regret.kelly.simulate`
    from the market; a rule started with no scale at all raises instead of guessing one.
    """

    _arrays = ("log_weights", "arm", "scale_low", "scale_high")

    def __init__(self, arms: int = 64, horizon: int = 3000, eta: float | None = None,
                 reward_range: tuple[float, float] | None = None) -> None:
        super().__init__()
        if arms < 2 or horizon < 1:
            raise ValueError("need arms >= 2 and horizon >= 1")
        if reward_range is not None:
            low, high = reward_range
            if not high > low:
                raise ValueError(f"reward_range must be increasing; got {reward_range!r}")
            reward_range = (float(low), float(high))
        self.arms, self.horizon, self.reward_range = int(arms), int(horizon), reward_range
        self.eta = float(eta) if eta is not None else self.default_eta()
        self.scale_low = self.scale_high = np.zeros(0)

    def _set_reward_range(self, reward_range: tuple[Any, Any] | None) -> None:
        chosen = self.reward_range if self.reward_range is not None else reward_range
        if chosen is None:
            raise ValueError(f"{self.name} rescales payoffs to [0, 1] and needs their range: pass "
                             f"reward_range=(lo, hi), or drive it through an env that documents "
                             f"payoff_range(agent) (NoRegretLearner reads it)")
        low = np.broadcast_to(np.asarray(chosen[0], dtype=np.float64), self.low.shape).copy()
        high = np.broadcast_to(np.asarray(chosen[1], dtype=np.float64), self.low.shape).copy()
        if np.any(~np.isfinite(low)) or np.any(~np.isfinite(high)) or np.any(high < low):
            raise ValueError(f"reward range must be finite with lo <= hi; got {chosen!r}")
        self.scale_low, self.scale_high = low, high

    def default_eta(self) -> float:
        raise NotImplementedError

    @property
    def grid(self) -> np.ndarray:
        """The bid grid, shape ``(m, K)`` (``auction_envs.oracles.kelly.bid_grid``, the env's)."""
        return bid_grid(self.low, self.high, self.arms)

    def _start(self, bids: np.ndarray) -> None:  # the first bids are sampled, not given
        self.log_weights = np.zeros((*bids.shape, self.arms))
        self.arm = np.zeros(bids.shape, dtype=np.int64)

    def probabilities(self) -> np.ndarray:
        """The current mixed strategy over the grid, shape ``(B, m, K)``."""
        shifted = self.log_weights - self.log_weights.max(axis=-1, keepdims=True)
        weights = np.exp(shifted)
        return weights / weights.sum(axis=-1, keepdims=True)

    def bids(self, explore: bool = True) -> np.ndarray:
        probabilities = self.probabilities()
        if explore:  # inverse-CDF sampling, one uniform per bidder
            cumulative = np.cumsum(probabilities, axis=-1)
            u = self.rng.random(probabilities.shape[:-1])[..., None]
            arm = np.minimum((cumulative < u * cumulative[..., -1:]).sum(axis=-1), self.arms - 1)
            self.arm = arm
        else:  # greedy: no randomness consumed
            arm = probabilities.argmax(axis=-1)
        return np.take_along_axis(np.broadcast_to(self.grid, probabilities.shape), arm[..., None],
                                  axis=-1)[..., 0]

    def _scaled(self, reward: np.ndarray) -> np.ndarray:
        """Rewards ``(B, m)`` or ``(B, m, K)`` mapped from the scale to ``[0, 1]`` (a degenerate
        scale, one possible payoff, maps to 1)."""
        reward = np.asarray(reward, dtype=np.float64)
        extra = (None,) * (reward.ndim - 2)
        low, high = self.scale_low[(..., *extra)], self.scale_high[(..., *extra)]
        width = high - low
        scaled = np.where(width > 0, (reward - low) / np.where(width > 0, width, 1.0), 1.0)
        return np.clip(scaled, 0.0, 1.0)  # a no-op with the env's scale, which bounds every payoff


class Hedge(_GridRule):
    """Hedge (exponential weights) with full-information feedback over a bid grid."""

    feedback = ("counterfactual_payoffs",)
    name = "Hedge"

    def default_eta(self) -> float:
        return float(np.sqrt(8.0 * np.log(self.arms) / self.horizon))

    def regret_bound(self, rounds: int | None = None) -> float:
        """``ln K / eta + eta T / 8`` (rewards in [0, 1]); ``sqrt(T ln K / 2)`` at the default eta."""
        rounds = self.horizon if rounds is None else rounds
        return float(np.log(self.arms) / self.eta + self.eta * rounds / 8.0)

    def update(self, feedback: dict[str, np.ndarray]) -> None:
        payoffs = np.asarray(feedback["counterfactual_payoffs"], dtype=np.float64)
        if payoffs.shape != self.log_weights.shape:
            raise ValueError(f"counterfactual_payoffs of shape {payoffs.shape}; expected "
                             f"{self.log_weights.shape} (K = {self.arms} grid bids)")
        self.t += 1
        self.log_weights = self.log_weights + self.eta * self._scaled(payoffs)


class EXP3(_GridRule):
    """EXP3 with bandit feedback: it reads its own reward and nothing else."""

    feedback = ("reward",)
    name = "EXP3"

    def default_eta(self) -> float:
        return float(np.sqrt(2.0 * np.log(self.arms) / (self.horizon * self.arms)))

    def regret_bound(self, rounds: int | None = None) -> float:
        """Expected regret ``<= ln K / eta + eta T K / 2`` (``sqrt(2 T K ln K)`` at the default)."""
        rounds = self.horizon if rounds is None else rounds
        return float(np.log(self.arms) / self.eta + self.eta * rounds * self.arms / 2.0)

    def update(self, feedback: dict[str, np.ndarray]) -> None:
        self.t += 1
        loss = 1.0 - self._scaled(feedback["reward"])
        chosen = np.take_along_axis(self.probabilities(), self.arm[..., None], axis=-1)[..., 0]
        estimate = np.zeros_like(self.log_weights)
        np.put_along_axis(estimate, self.arm[..., None], (loss / chosen)[..., None], axis=-1)
        self.log_weights = self.log_weights - self.eta * estimate


def make_rule(name: str, *, G: float = 1.0, horizon: int | None = None, **kwargs: Any) -> BidRule:
    """A rule from the paper's column names: ``BR``, ``OGD_F``, ``OGD_V``, ``DAQ_F``, ``DAQ_V``,
    ``RRM_F``, ``RRM_V`` (``RMQ_*`` is an alias of ``RRM_*``), ``Hedge``, ``EXP3``."""
    key = name.upper().replace("RMQ", "RRM")
    if key == "BR":
        return BestResponse()
    if key in ("HEDGE", "EXP3"):
        cls = Hedge if key == "HEDGE" else EXP3
        return cls(horizon=horizon or 3000, **kwargs)
    family, _, suffix = key.partition("_")
    classes = {"OGD": OGD, "DAQ": DAQ, "RRM": RRM}
    if family not in classes or suffix not in ("F", "V"):
        raise ValueError(f"unknown rule {name!r}")
    return classes[family](rate="fixed" if suffix == "F" else "varying", G=G, horizon=horizon,
                           **kwargs)
