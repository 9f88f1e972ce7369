"""Pure, batchable numpy mechanisms (allocation and payment rules) shared by the markets."""

from auction_envs.mechanisms.proportional import proportional_allocation

__all__ = ["proportional_allocation"]
