"""The Kelly game as a native vector env: ``B`` games stepped by one :class:`KellyCore` round."""

from __future__ import annotations

from typing import Any

import numpy as np

from auction_envs.envs.kelly.env import INFO_KEYS, ROUND_FIELDS, KellyGameEnv
from auction_envs.vector import VectorMarketEnv, register_vector


class KellyVectorEnv(VectorMarketEnv):
    """``num_envs`` Kelly games (see :mod:`auction_envs.vector` for the array API).

    Observations, rewards and infos are bit-identical to ``num_envs`` ``KellyGameEnv`` stepped
    with the same bids (tested): the same round (``kelly_round``), the same layout, the same
    float32 rounding. Infos: the per-agent arrays ``[B, n]`` of ``KellyGameEnv``'s infos
    (``bid``, ``others_bid``, ``allocation``, ``payoff``, ``gradient``, ``best_response``).
    """

    def __init__(self, template: KellyGameEnv, num_envs: int) -> None:
        super().__init__(template, num_envs)
        self.core = template.core
        self.layout = template.layout
        n = self.n_agents
        self._constants = np.broadcast_to(template._first_observation, (num_envs, n,
                                                                          self.layout.size)).copy()
        self._round_columns = [(self.layout.slice(name).start, self.layout.field(name).scale, name)
                               for name in ROUND_FIELDS]
        self._observation = self._constants.copy()
        self.bids = np.zeros((num_envs, n))

    def _reset_rows(self, rows: np.ndarray) -> None:
        self._observation[rows] = self._constants[rows]
        self.bids[rows] = 0.0

    def _step_rows(self, actions: np.ndarray, rows: np.ndarray
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        feedback = self.core.round(actions[..., 0])
        self.bids[rows] = feedback["bid"]
        block = self._observation[rows]
        for column, scale, name in self._round_columns:
            values = feedback[name]
            block[..., column] = values if scale == 1.0 else values / scale
        self._observation[rows] = block
        return feedback["payoff"], {key: feedback[key] for key in INFO_KEYS}

    def _observations(self) -> np.ndarray:
        return self._observation.copy()

    def metrics(self) -> dict[str, Any]:
        """Per-env metrics of the last round's bids (arrays ``[B]``): residual, NashConv, distance
        to the equilibrium (the core's batched oracles)."""
        from auction_envs.oracles.kelly import kelly_nash_conv, kelly_residual

        core = self.core
        args = (core.valuations, core.eps, core.budgets, core.delta, core.alpha)
        return {"residual": kelly_residual(self.bids, *args),
                "nash_conv": kelly_nash_conv(self.bids, *args),
                "distance_to_equilibrium": np.linalg.norm(self.bids - core.equilibrium(), axis=-1)}


register_vector(KellyGameEnv, KellyVectorEnv)
