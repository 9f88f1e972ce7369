"""Exceptions raised by the environments: every one names what was wrong and what was expected."""

from __future__ import annotations

from typing import Any


class AuctionEnvError(Exception):
    """Base class of every error raised on purpose by ``auction_envs``."""


class InvalidActionError(AuctionEnvError, ValueError):
    """An action dict that the env refuses; the env's state is left untouched.

    Attributes:
        agent: the agent whose action is wrong (``None`` when the dict itself is wrong).
        space: the action space the value had to lie in.
        value: the value received.
    """

    def __init__(self, reason: str, *, agent: str | None = None, space: Any = None,
                 value: Any = None) -> None:
        self.agent = agent
        self.space = space
        self.value = value
        who = f"agent {agent!r}" if agent is not None else "the action dict"
        expected = f"; expected a value in {space}" if space is not None else ""
        super().__init__(f"invalid action for {who}: {reason}{expected}; got {value!r}")


class InvalidArgumentError(AuctionEnvError, ValueError):
    """A constructor or function argument outside its documented domain."""

    def __init__(self, name: str, value: Any, expected: str) -> None:
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(f"argument {name!r} must be {expected}; got {value!r}")


class EpisodeOverError(AuctionEnvError, RuntimeError):
    """``step()`` was called with no live agents: the episode ended, call ``reset()``."""


class ResetNeededError(AuctionEnvError, RuntimeError):
    """A call that needs the market of an episode (``state()``, ``metrics()``, ...) before the first
    ``reset()``."""


class EnvNotFoundError(AuctionEnvError, LookupError):
    """An id that is not in the registry; the message lists the closest registered ids."""

    def __str__(self) -> str:  # LookupError would quote the message like a key
        return str(self.args[0]) if self.args else ""
