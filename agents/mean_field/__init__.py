"""Mean-field MARL (Yang et al. 2018): MF-Q, MF-AC and a deterministic mean-field actor-critic for
continuous actions (MF-DDPG); the mean field is computed in :mod:`agents.mean_field.features` only.
Needs torch.

    from agents.mean_field import MFQ, MeanFieldConfig
    learner = MFQ(env, MeanFieldConfig(gamma=0.0), agents=env.unwrapped.slicers, seed=0)

``MeanFieldConfig(use_mean_field=False)`` gives the independent learners (DVCG-MARL).
"""

from agents.mean_field.common import AgentReplayBuffer, MeanFieldConfig, MeanFieldLearner
from agents.mean_field.features import mean_field, mean_field_size, one_hot_mean, soft_histogram
from agents.mean_field.mfac import MFAC
from agents.mean_field.mfddpg import MFDDPG
from agents.mean_field.mfq import MFQ

__all__ = ["MFAC", "MFDDPG", "MFQ", "AgentReplayBuffer", "MeanFieldConfig", "MeanFieldLearner",
           "mean_field", "mean_field_size", "one_hot_mean", "soft_histogram"]
