"""The mechanism's view of the exchange economy (the paper's setting): a thin shell over
:class:`~auction_envs.envs.exchange.core.ExchangeCore`."""

from __future__ import annotations

from typing import Any

import numpy as np

from auction_envs.core.layout import Field, ObservationLayout, float32_box
from auction_envs.envs.exchange.base import ExchangeBaseEnv, check_sizes
from auction_envs.envs.exchange.core import decode_action, encode_action

MECHANISM = "mechanism"

__all__ = ["MECHANISM", "ExchangeMechanismEnv", "decode_action", "encode_action",
           "mechanism_layout"]


def mechanism_layout(n_agents: int, n_goods: int) -> ObservationLayout:
    """The mechanism's observation (and state) fields, in order."""
    n, m = n_agents, n_goods
    return ObservationLayout([
        Field("allocation", n * m, 0.0, 1.0, description="last allocation, row-major (agent, good)"),
        Field("prices", m, 0.0, 1.0, description="last prices"),
        Field("reports", n, description="last noisy utility reports (the bandit feedback)"),
        Field("endowments", n * m, 0.0, 1.0, description="endowments, row-major (float32: "
              "exact values in `env.unwrapped.endowments`)"),
        Field("progress", 1, 0.0, 1.0, description="round / max_cycles"),
    ])


class ExchangeMechanismEnv(ExchangeBaseEnv):
    """Learning a competitive equilibrium with bandit feedback: the mechanism's view (paper 003).

    ## Description
    One agent, ``"mechanism"``, runs an exchange economy of ``n_agents`` agents and ``n_goods``
    goods whose utilities ``u_i(x) = f(theta_i^T phi(x))`` it does not know (``phi`` and ``f`` are
    known: ``family_params``). Every round it chooses an allocation and prices; every agent
    reports her noisy utility of her bundle. Its goal is to imitate the CE in the long run
    (sublinear cumulative CE loss; Algorithm 1 of the paper is ``agents.exchange.BanditCE``).

    ## Mechanism
    None beyond the mechanism's own choice: the allocation is applied as chosen.

    ## Action Space
    ``Box(0, 1, shape=(n m + m,), float32)``: ``n m`` allocation weights (row-major, agent ``i``
    good ``j``) then ``m`` price weights. [decision] Softmax-free, normalized explicitly: allocation
    columns ``x_ij = a_ij / sum_k a_kj`` (every good fully allocated; an all-zero column is split
    equally), prices ``p = w / sum(w)`` (all-zero: uniform). A feasible allocation with full
    columns and prices on the simplex are their own encoding (``env.unwrapped.encode_action``).

    ## Observation Space
    ``Box(float32, shape=(2 n m + m + n + 1,))``, fields by name in ``env.unwrapped.layout``
    (allocation, prices and reports are 0 after reset):

    | entries | field | bounds | meaning |
    |---|---|---|---|
    | 0 – nm−1 | `allocation` | [0, 1] | last allocation, row-major (agent, good) |
    | nm – nm+m−1 | `prices` | [0, 1] | last prices |
    | nm+m – nm+m+n−1 | `reports` | [−∞, ∞] | last noisy utility reports (the bandit feedback) |
    | nm+m+n – 2nm+m+n−1 | `endowments` | [0, 1] | endowments (float32; exact: `env.unwrapped.endowments`) |
    | 2nm+m+n | `progress` | [0, 1] | round / max_cycles |

    ## Rewards
    Minus the CE loss of the chosen ``(allocation, prices)`` under the true utilities (paper eq.
    (2), per-agent terms clipped at 0, demand solved exactly), of order 1: ``reward_scale`` is 1.

    ## Infos
    ``infos["mechanism"]``: ``reports`` (n noisy utilities, the bandit feedback), ``allocation``,
    ``prices``, ``ce_loss``, ``sharing_incentive_loss`` and ``endowments`` (exact; copies:
    changing them changes nothing). After ``reset`` the same keys, zeros but for ``endowments``.
    The family's known parameters are ``env.unwrapped.family_params`` (no strings in infos:
    TorchRL builds tensor specs from them).

    ## Starting State
    A new economy per ``reset`` drawn from the seed (as the traders' view) unless ``theta`` /
    ``endowments`` are fixed.

    ## Episode End
    Truncation after ``max_cycles`` rounds (the horizon ``T``); never terminates.

    ## Reference solution
    ``equilibrium()``: the verified CE; ``metrics()``: last and cumulative CE loss, SI loss,
    ``price_distance``, ``allocation_distance``.

    ## Arguments
    As :class:`ExchangeEconomyEnv` (without ``reveal_preferences``); ``max_cycles`` (1000).

    ## Version History
    * v0: initial release. Later changes within v0 (seeded trajectories differ in the last bits
      only): the CE is polished by a batched Newton on the closed-form demand; the CE
      verification is relative to each agent's own budget and best utility; ``family="linear"``
      is reported as ``"linear"``; a parameter of the other family (``F`` for CES, ``rho`` for
      Amdahl) is rejected; ``endowments`` attribute (exact values); infos are copies; sizes
      and scales have upper bounds (issue 19, as :class:`ExchangeEconomyEnv`); reset and step
      infos carry the same keys, ``family``/``rho``/``F`` left the reset infos (read
      ``family_params``) (issue 18).
    """

    joint_action_array = True  # _step_market gets the action as one array [1, n m + m]

    def __init__(self, n_agents: int = 5, n_goods: int = 3, family: str = "ces",
                 rho: float | None = None, F: Any = None, theta: Any = None,
                 endowments: Any = None, theta_range: Any = (0.1, 1.0), noise_std: float = 0.05,
                 max_cycles: int = 1000, render_mode: str | None = None,
                 action_policy: str = "raise") -> None:
        n_agents, n_goods = check_sizes(n_agents, n_goods)
        super().__init__(possible_agents=[MECHANISM], n_agents=n_agents, n_goods=n_goods,
                         family=family, rho=rho, F=F, theta=theta, endowments=endowments,
                         theta_range=theta_range, noise_std=noise_std, max_cycles=max_cycles,
                         render_mode=render_mode, action_policy=action_policy)
        n, m = self.n_agents, self.n_goods
        self.layout = mechanism_layout(n, m)
        self._unit_scales = all(field.scale == 1.0 for field in self.layout.fields)
        space = self.layout.space()
        self._set_spaces(
            observation_spaces={MECHANISM: space},
            action_spaces={MECHANISM: float32_box(0.0, 1.0, (n * m + m,))},
            state_space=space,
        )

    @staticmethod
    def encode_action(allocation: np.ndarray, prices: np.ndarray) -> np.ndarray:
        """The action that plays ``(allocation (..., n, m), prices (..., m))`` exactly."""
        return encode_action(allocation, prices)

    def decode_action(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(allocation, prices)`` that ``action`` plays (see Action Space)."""
        return decode_action(action, self.n_agents, self.n_goods)

    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self._new_core(prices=np.zeros(self.n_goods))
        n, m = self.n_agents, self.n_goods
        return {MECHANISM: self._info(np.zeros(n), np.zeros((n, m)), np.zeros(m), 0.0, 0.0)}

    def _info(self, reports: np.ndarray, allocation: np.ndarray, prices: np.ndarray,
              ce_loss: float, sharing: float) -> dict[str, Any]:
        """The same keys and types at reset (zeros) and at every step; copies."""
        return {"reports": reports.copy(), "allocation": allocation.copy(), "prices": prices.copy(),
                "ce_loss": float(ce_loss), "sharing_incentive_loss": float(sharing),
                "endowments": self.core.economy.endowments.copy()}

    def _step_market(self, actions: np.ndarray
                     ) -> tuple[dict[str, float], dict[str, dict[str, Any]], bool]:
        core = self.core
        allocation, prices, sharing = core.step_mechanism(actions[0])  # the mechanism's row
        loss = core.last_ce_loss
        info = self._info(core.noisy_utilities, allocation, prices, loss, sharing)
        return {MECHANISM: -loss}, {MECHANISM: info}, False

    def _observations(self) -> dict[str, np.ndarray]:
        if not self.agents:
            return {}
        return {MECHANISM: self.state()}

    def state(self) -> np.ndarray:
        self._require_reset("state")
        core = self.core
        progress = min(self.num_cycles / self.max_cycles, 1.0)
        if self._unit_scales:  # the fields side by side: what layout.pack stores, bit for bit
            return np.concatenate([core.allocation.ravel(), core.prices, core.noisy_utilities,
                                   core.economy.endowments.ravel(), [progress]],
                                  dtype=np.float64).astype(np.float32)
        return self.layout.pack({
            "allocation": core.allocation.ravel(), "prices": core.prices,
            "reports": core.noisy_utilities, "endowments": core.economy.endowments.ravel(),
            "progress": progress})

    def _render_text(self) -> str:
        lines = [f"ExchangeEconomyMechanism ({self.family_name}) round "
                 f"{self.num_cycles}/{self.max_cycles}"]
        if self.core is not None and self.core.rounds:
            m = self.metrics()
            lines.append(f"  CE loss {m['ce_loss']:.4e}  mean {m['mean_ce_loss']:.4e}  "
                         f"|p - p*|_1 {m['price_distance']:.3e}")
        return "\n".join(lines)
