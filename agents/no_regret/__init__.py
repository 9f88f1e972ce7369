"""No-regret bidders (numpy only): OGD, DAQ, RRM/RMQ, best response, Hedge, EXP3.

* :mod:`agents.no_regret.rules`: the update equations, vectorized over runs and bidders;
* :class:`NoRegretLearner` / :class:`Mixture`: the joint-learner adapters that drive rules
  through any env whose infos carry the feedback they read;
* :mod:`agents.no_regret.kelly`: many runs of a Kelly env's own market (``env.unwrapped.core``)
  at once, with the same trajectories as the env; ``feedback="own_group"`` gives the authors'
  hybrid dynamics (each group sees only its own group's bids).
"""

from agents.no_regret.learner import Mixture, NoRegretLearner
from agents.no_regret.rules import (
    DAQ,
    EXP3,
    OGD,
    RRM,
    BestResponse,
    BidRule,
    Hedge,
    make_rule,
)

__all__ = [
    "DAQ",
    "EXP3",
    "OGD",
    "RRM",
    "BestResponse",
    "BidRule",
    "Hedge",
    "Mixture",
    "NoRegretLearner",
    "make_rule",
]
