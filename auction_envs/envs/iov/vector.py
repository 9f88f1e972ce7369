"""The IoV slicing market as a native vector env: ``B`` markets stepped by one :class:`IoVCore`.

Every id whose agents are the VSP bidders alone (``allocator="optimum"``: IoVSlicing-v1,
IoVSlicingNVI-v1, IoVSlicingVCG-v1, IoVSlicingQVCG-v1 and their arguments) has this shell; with
``allocator="learned"`` the slicing agents act in ``MultiDiscrete`` spaces, not the bidders' Box,
and ``make_vec`` refuses the id (use the dict env).

Randomness: env ``b`` owns a generator seeded like the dict env's (``reset(seed=s)`` gives env
``b`` the seed ``s + b``); the core sees the ``B`` generators as one
(:class:`~auction_envs.vector.RowGenerators`): a draw of shape ``[B, ...]`` is env ``b``'s own
draw of shape ``[...]`` in row ``b``, so every env consumes its generator exactly as a dict env
does. That makes the vector env bit-identical to ``B`` dict envs (tested).

The ``B`` markets always move in lockstep: they start together, never terminate and all truncate
at ``max_cycles``, so they all reset on the same step (the core keeps one round counter and one
bill count for the batch).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from auction_envs.core.errors import InvalidArgumentError
from auction_envs.envs.iov.core import IoVCore
from auction_envs.envs.iov.env import VSP_INFO_KEYS, VSP_LAYOUT, IoVSlicingEnv
from auction_envs.vector import RowGenerators, VectorMarketEnv, register_vector

#: the per-VSP infos of ``IoVSlicingEnv`` (besides ``allocation``), as arrays ``[B, N]``
INFO_KEYS = VSP_INFO_KEYS


class SharedDraws:
    """One generator whose every draw is repeated over the batch axis: ``B`` copies of the
    market a dict env draws from it (``instance_seed``: the same market in every env)."""

    def __init__(self, generator: np.random.Generator) -> None:
        self.generator = generator

    def uniform(self, low: float, high: float, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(self.generator.uniform(low, high, shape[1:]), shape).copy()


class IoVVectorEnv(VectorMarketEnv):
    """``num_envs`` IoV slicing markets (see :mod:`auction_envs.vector` for the array API).

    Observations ``[B, N, 13]`` (the VSP layout), rewards ``[B, N]`` (profits; colluders share
    their coalition's total), infos: ``bid``, ``truthful_bid``, ``loan``, ``externality``,
    ``interest``, ``tax``, ``payment``, ``profit``, ``utility`` ``[B, N]``, ``allocation``
    ``[B, N, 3]`` and ``welfare`` ``[B]``: all bit-identical to ``num_envs`` ``IoVSlicingEnv``
    stepped with the same seeds and bids (tested). The exact optimum and its Clarke pivots of
    the whole batch are one compiled call (``slicing_optimum_batch``): at reset, and at every
    round where the mechanism solves (VCG; DVCG with ``theta_estimator="noisy"``).
    """

    def __init__(self, template: IoVSlicingEnv, num_envs: int) -> None:
        if template.slicers:
            raise InvalidArgumentError(
                "allocator", template.allocator,
                "'optimum' for make_vec (the slicing agents' MultiDiscrete actions do not share "
                "the VSPs' Box; use the dict env auction_envs.make for allocator='learned')")
        super().__init__(template, num_envs)
        config = template.core.config
        self.instance_seed = config.instance_seed
        # the instance draw is made here (SharedDraws), so the core always draws from what it gets
        self.core = IoVCore(dataclasses.replace(config, instance_seed=None),
                            template._make_mechanism(), batch=num_envs)
        self.slicer_reward = template.slicer_reward
        self.colluders = list(template.colluders)
        self._scales = template._scales["vsp"]
        self._columns = [(VSP_LAYOUT.slice(field.name).start, field.name)
                         for field in VSP_LAYOUT.fields]
        self.generators = RowGenerators(num_envs)

    # ------------------------------------------------------------------ market hooks
    def _seed_rows(self, rows: np.ndarray, seeds: Any) -> None:
        self.generators.seed(rows, seeds)

    def _reset_rows(self, rows: np.ndarray) -> None:
        self._require_every_row(rows)
        draws = self.generators if self.instance_seed is None else SharedDraws(
            np.random.default_rng(self.instance_seed))
        self.core.reset(draws)  # type: ignore[arg-type]
        # nothing reads the bill history, and 500 bills of B = 4096 markets would hold ~1.3 GB
        self.core.bank.keep_bills = 0

    def _step_rows(self, actions: np.ndarray, rows: np.ndarray
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        self._require_every_row(rows)
        core = self.core
        profit, _ = core.step(actions[..., 0], None, self.generators,  # type: ignore[arg-type]
                              self.slicer_reward)
        reward = profit.copy()
        if self.colluders:
            reward[:, self.colluders] = profit[:, self.colluders].sum(axis=1, keepdims=True)
        c = core.last_clearing
        infos = {"bid": core.last_bids, "truthful_bid": core.x_truthful, "loan": c.loan,
                 "externality": c.externality, "interest": c.interest, "tax": c.tax,
                 "payment": c.payment, "profit": core.last_profit, "utility": c.utility,
                 "allocation": c.allocation, "welfare": core.last_welfare}
        return reward, infos

    def _require_every_row(self, rows: np.ndarray) -> None:
        if rows.size != self.num_envs:  # cannot happen: the markets move in lockstep
            raise RuntimeError(f"the IoV core steps and resets all {self.num_envs} markets "
                               f"together (asked for {rows.size})")

    def _observations(self) -> np.ndarray:
        """The dict env's ``_pack`` for every market: float64 fields divided by the scales,
        then rounded to float32 (the same operations, so the same bits)."""
        fields = self.core.vsp_fields()
        out = np.empty((self.num_envs, self.n_agents, VSP_LAYOUT.size))
        progress = (self.rounds / self.max_cycles)[:, None]
        for column, name in self._columns:
            out[..., column] = progress if name == "progress" else fields[name]
        out /= self._scales
        return out.astype(np.float32)

    # ------------------------------------------------------------------ views
    def equilibrium(self) -> dict[str, np.ndarray]:
        """Per env: the truthful bids ``[B, N]`` (a best reply to truthful others under DVCG),
        the exact optimum ``[B, N, 3]`` and its welfare ``[B]``."""
        self._require_reset("equilibrium")
        core = self.core
        return {"bids": core.x_truthful.copy(), "allocation": core.s_true.copy(),
                "welfare": core.x_truthful.sum(axis=-1)}

    def metrics(self) -> dict[str, np.ndarray]:
        """Per env (arrays ``[B]``, ``[B, N]``): the last round's welfare, the optimum, the
        efficiency and ``bid_deviation`` (``x_i / x*_i - 1``, 0 where ``x*_i = 0``); the
        dict env's ``metrics()`` fields of the same names."""
        self._require_reset("metrics")
        core = self.core
        optimum = core.x_truthful.sum(axis=-1)
        truthful = core.x_truthful
        return {"welfare": core.last_welfare.copy(), "optimal_welfare": optimum,
                "efficiency": core.last_welfare / optimum,
                "bid_deviation": np.divide(core.last_bids, truthful, out=np.ones_like(truthful),
                                           where=truthful > 0) - 1.0}


register_vector(IoVSlicingEnv, IoVVectorEnv)
