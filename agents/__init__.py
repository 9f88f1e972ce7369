"""Learners that train against any registered env; they know only the env contract."""

from agents.base import (
    AgentLearner,
    AgentTransition,
    CheckpointError,
    Independent,
    Learner,
    Transition,
    check_state_like,
    load_state,
    restore_rng,
    rng_state,
    save_state,
)

__all__ = [
    "AgentLearner",
    "AgentTransition",
    "CheckpointError",
    "Independent",
    "Learner",
    "Transition",
    "check_state_like",
    "load_state",
    "restore_rng",
    "rng_state",
    "save_state",
]
