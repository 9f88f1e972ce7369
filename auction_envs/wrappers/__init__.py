"""Adapters for training loops (SB3 through SuperSuit, single-agent views)."""
