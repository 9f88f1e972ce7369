"""The V2X offloading markets as vector envs: ``B`` dict envs looped behind the array API.

A V2X step is an event simulation over a variable table of live requests: arrivals, one k-slot
auction per service type over the requests that bid this step, RIAL assignment of each winner
to a site given the load the previous winners put there, execution and deadline drops, rebids
and back-offs. The request tables of ``B`` markets differ in length and content every step, so
the step does not batch as array operations over markets; :class:`V2XVectorEnv` is a
:class:`~auction_envs.vector.LoopedVectorEnv`: ``B`` copies of the dict env stepped in turn
(throughput about ``B`` times the dict env's), bit-identical to ``B`` dict envs stepped with the
same seeds and actions (tested). The junction's SUMO mode (one live libsumo simulation per
process) has no vector env.
"""

from __future__ import annotations

from typing import Any

from auction_envs.core.errors import InvalidArgumentError
from auction_envs.envs.v2x.env import V2XOffloadingEnv
from auction_envs.envs.v2x.intersection import V2XIntersectionEnv
from auction_envs.vector import LoopedVectorEnv, register_vector


class V2XVectorEnv(LoopedVectorEnv):
    """``num_envs`` V2X offloading markets (see :class:`~auction_envs.vector.LoopedVectorEnv`).

    Observations ``[B, n_vehicles, obs_dim]`` (the vehicle layout), actions
    ``[B, n_vehicles, 2]`` (``alpha``, ``b``), rewards ``[B, n_vehicles]``; infos
    ``needs_action``, ``admitted``, ``rejected``, ``backed_off``, ``failed``, ``payment``,
    ``budget`` ``[B, n]`` (and ``present``, ``entered`` at the junction): the dict env's infos
    as arrays. ``envs[b]`` is copy ``b`` (``requests``, ``last_events``, ``state()``).
    """

    def __init__(self, template: Any, num_envs: int) -> None:
        if getattr(template, "mobility_mode", "builtin") == "sumo":
            template.close()  # the template's libsumo simulation
            raise InvalidArgumentError(
                "mobility", "sumo", "'builtin' for make_vec (libsumo runs one simulation per "
                "process; use the dict env auction_envs.make for mobility='sumo')")
        super().__init__(template, num_envs)


register_vector(V2XOffloadingEnv, V2XVectorEnv)
register_vector(V2XIntersectionEnv, V2XVectorEnv)
