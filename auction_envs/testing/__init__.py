"""Tools to test envs: the conformance suite run over the whole registry."""

from auction_envs.testing.conformance import ALL_CHECKS, run_all

__all__ = ["ALL_CHECKS", "run_all"]
