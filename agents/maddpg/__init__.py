"""MADDPG (continuous tanh actors, Discrete through straight-through Gumbel-softmax); needs torch."""

from agents.maddpg.maddpg import MADDPG, ActionScaler, JointReplayBuffer, MADDPGConfig

__all__ = ["MADDPG", "ActionScaler", "JointReplayBuffer", "MADDPGConfig"]
