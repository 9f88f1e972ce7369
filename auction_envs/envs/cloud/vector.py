"""The cloud double auction as a vector env: ``B`` dict envs looped behind the array API.

The market's step matches the batch's buyers one at a time (by contest strength), each against
every provider's booked capacity over the next steps, and each match books capacity the next
buyer sees; so one step is a sequence of dependent per-buyer decisions, not an array operation
over markets. :class:`CloudVectorEnv` is therefore a :class:`~auction_envs.vector.LoopedVectorEnv`:
``B`` copies of :class:`CloudDoubleAuctionEnv` stepped in turn (throughput about ``B`` times the
dict env's), bit-identical to ``B`` dict envs stepped with the same seeds and actions (tested).
"""

from __future__ import annotations

from auction_envs.envs.cloud.env import CloudDoubleAuctionEnv
from auction_envs.vector import LoopedVectorEnv, register_vector


class CloudVectorEnv(LoopedVectorEnv):
    """``num_envs`` cloud double auctions (see :class:`~auction_envs.vector.LoopedVectorEnv`).

    Observations ``[B, n_providers, 11 * max_buyers + 14]`` (the provider layout), actions
    ``[B, n_providers, max_buyers]`` (the multipliers), rewards ``[B, n_providers]``; infos
    ``offers``, ``won``, ``payments`` ``[B, n, max_buyers]`` and ``revenue``, ``base_cost``,
    ``wins``, ``under_quota`` ``[B, n]``: the dict env's infos as arrays. Each copy keeps its own
    buyer population across its episodes, as a dict env does. ``envs[b]`` is copy ``b``
    (``last_matches``, ``jobs``, ``state()``).
    """


register_vector(CloudDoubleAuctionEnv, CloudVectorEnv)
