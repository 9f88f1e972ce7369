"""The markets. Each subpackage ``auction_envs.envs.<market>`` has a ``variants`` module whose
``register_variants()`` registers its ids; ``register_builtin_envs`` imports every one of them, so a
new market is added by adding its folder, and nothing else needs editing."""

from __future__ import annotations

import importlib
import pkgutil


def register_builtin_envs() -> None:
    """Import ``<market>.variants`` for every market subpackage and register its variants."""
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.ispkg:
            variants = importlib.import_module(f"{__name__}.{module.name}.variants")
            variants.register_variants()
