"""No-regret bidders (numpy only): OGD, DAQ, RRM/RMQ, best response, Hedge, EXP3.

* :mod:`agents.no_regret.rules`: the update equations, vectorized over runs and bidders;
* :class:`NoRegretLearner` / :class:`Mixture`: the joint-learner adapters that drive rules
  through any env whose infos carry the feedback they read;
* :mod:`agents.no_regret.kelly`: a batched simulation of the Kelly game (many runs at once) that
  gives the same trajectories as the env.
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
