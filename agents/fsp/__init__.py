"""Fictitious self-play learners: DRACO (paper 000), an actor-critic best response mixed with a
supervised average behaviour. Needs torch (``pip install torch==2.13.0``)."""

from agents.fsp.draco import DRACOConfig, DRACOLearner
from agents.fsp.schedules import ETA_SCHEDULES, eta

__all__ = ["ETA_SCHEDULES", "DRACOConfig", "DRACOLearner", "eta"]
