"""The registry of market variants: ``make``, ``register``, ``list_envs``, ``pprint_registry``.

Every registration is mirrored into PettingZoo's own registry (``pettingzoo.make("parallel", id)``
and ``pettingzoo.make("aec", id)``), so the same ids work through either entry point.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pettingzoo
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from auction_envs.core.errors import EnvNotFoundError, InvalidArgumentError

NAMESPACE = "auction_envs"


@dataclass(frozen=True)
class EnvSpec:
    """One registered variant: an id, what builds it, and the keyword arguments it is built with."""

    id: str
    entry_point: Callable[..., ParallelEnv] | str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def load(self) -> Callable[..., ParallelEnv]:
        """The env class or factory behind ``entry_point`` (``"module:attr"`` strings imported)."""
        if callable(self.entry_point):
            return self.entry_point
        module_name, _, attribute = self.entry_point.partition(":")
        return getattr(importlib.import_module(module_name), attribute)

    def make(self, **kwargs: Any) -> ParallelEnv:
        return self.load()(**{**self.kwargs, **kwargs})


_REGISTRY: dict[str, EnvSpec] = {}


def register(
    id: str,
    entry_point: Callable[..., ParallelEnv] | str,
    kwargs: dict[str, Any] | None = None,
    *,
    description: str = "",
    override: bool = False,
) -> EnvSpec:
    """Register a variant under ``id`` (``"namespace/Name-vN"``), here and in PettingZoo's registry.

    Args:
        id: the variant's id, e.g. ``"auction_envs/KellyGame-v0"`` or ``"mylab/KellyTiny-v0"``.
        entry_point: an env class, a factory, or a ``"module:attr"`` string imported on first use.
        kwargs: the keyword arguments the variant is built with; ``make(id, **more)`` overrides them.
        description: one line shown by ``auction-envs list``.
        override: allow replacing an existing id (otherwise that is an error).

    Example::

        auction_envs.register("mylab/KellyTiny-v0", "auction_envs.envs.kelly:KellyGameEnv",
                              kwargs={"n_agents": 3, "max_cycles": 50})
    """
    if not isinstance(id, str) or "/" not in id or not id.split("/")[-1]:
        raise InvalidArgumentError("id", id, "a string 'namespace/Name-vN'")
    if id in _REGISTRY and not override:
        raise InvalidArgumentError("id", id, "an id not registered yet (pass override=True)")
    if not (callable(entry_point) or (isinstance(entry_point, str) and ":" in entry_point)):
        raise InvalidArgumentError("entry_point", entry_point, "a callable or 'module:attr'")
    spec = EnvSpec(id=id, entry_point=entry_point, kwargs=dict(kwargs or {}),
                   description=description)
    _REGISTRY[id] = spec
    # PettingZoo warns on overriding; ours already decided above, so write its registry directly.
    for env_type, creator in (("parallel", spec.make), ("aec", _aec_creator(spec))):
        registry = pettingzoo.parallel_registry if env_type == "parallel" else pettingzoo.aec_registry
        registry.pop(id, None)
        pettingzoo.register(env_type, id, entry_point=creator)
    return spec


def _aec_creator(spec: EnvSpec) -> Callable[..., Any]:
    def create(**kwargs: Any) -> Any:
        return parallel_to_aec(spec.make(**kwargs))

    return create


def spec(id: str) -> EnvSpec:
    """The :class:`EnvSpec` of ``id``; unknown ids fail with the closest registered ones."""
    try:
        return _REGISTRY[id]
    except KeyError:
        pass
    if isinstance(id, str) and f"{NAMESPACE}/{id}" in _REGISTRY:
        return _REGISTRY[f"{NAMESPACE}/{id}"]
    known = sorted(_REGISTRY)
    close = difflib.get_close_matches(str(id), known, n=3, cutoff=0.5)
    close += [k for k in known if str(id).lower() in k.lower() and k not in close]
    hint = f" Did you mean: {', '.join(close[:3])}?" if close else ""
    raise EnvNotFoundError(
        f"no environment {id!r} is registered.{hint} Registered ids: auction_envs.list_envs()."
    )


def make(id: str, **kwargs: Any) -> ParallelEnv:
    """Build the registered variant ``id`` as a PettingZoo ``ParallelEnv``.

    Keyword arguments override the variant's own (``make("auction_envs/KellyGame-v0", n_agents=4)``).
    The namespace may be left out for built-in ids (``make("KellyGame-v0")``).
    """
    return spec(id).make(**kwargs)


def list_envs() -> list[str]:
    """The registered ids, sorted."""
    return sorted(_REGISTRY)


def registry() -> dict[str, EnvSpec]:
    """A copy of the registry: id -> :class:`EnvSpec`."""
    return dict(_REGISTRY)


def pprint_registry() -> None:
    """Print every registered id with its one-line description."""
    print(format_registry())


def format_registry() -> str:
    if not _REGISTRY:
        return "(no environments registered)"
    width = max(len(k) for k in _REGISTRY)
    return "\n".join(f"{k:<{width}}  {_REGISTRY[k].description}" for k in sorted(_REGISTRY))
