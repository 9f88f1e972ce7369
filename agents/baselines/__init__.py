"""Fixed (non-learning) policies used as baselines."""

from agents.baselines.passive_v2x import PassiveV2XPolicy

__all__ = ["PassiveV2XPolicy"]
