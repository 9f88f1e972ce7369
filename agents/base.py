"""The learner interface every agent package implements, and the safe checkpoint format.

A *learner* controls a group of agents of one env, dict in and dict out::

    actions = learner.act(observations, explore=True)
    ...env.step(actions)...
    learner.observe(Transition(...))
    metrics = learner.update()
    learner.end_episode()
    learner.save(path); learner.load(path)

Joint learners (MADDPG, mean-field, fictitious self-play) need every agent's data and implement
:class:`Learner` directly; per-agent learners implement :class:`AgentLearner` and are wrapped by
:class:`Independent`. Learners see only the env contract: observations, rewards, terminations,
truncations and the documented ``infos``.

Checkpoints are a ``.npz`` of arrays (``allow_pickle=False``) plus JSON metadata: loading never
executes code. RNG states are stored, so a reloaded learner's next actions are identical.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

AgentID = str
Observations = dict[AgentID, np.ndarray]
Actions = dict[AgentID, np.ndarray]


@dataclass(frozen=True)
class Transition:
    """One round of an env, for the agents a learner controls."""

    observations: Observations
    actions: Actions
    rewards: dict[AgentID, float]
    next_observations: Observations
    terminations: dict[AgentID, bool]
    truncations: dict[AgentID, bool]
    infos: dict[AgentID, dict[str, Any]]

    def for_agent(self, agent: AgentID) -> AgentTransition:
        return AgentTransition(
            observation=self.observations[agent],
            action=self.actions[agent],
            reward=float(self.rewards[agent]),
            next_observation=self.next_observations[agent],
            terminated=bool(self.terminations[agent]),
            truncated=bool(self.truncations[agent]),
            info=self.infos.get(agent, {}),
        )


@dataclass(frozen=True)
class AgentTransition:
    """One agent's view of a :class:`Transition`."""

    observation: np.ndarray
    action: np.ndarray
    reward: float
    next_observation: np.ndarray
    terminated: bool
    truncated: bool
    info: dict[str, Any]


@runtime_checkable
class Learner(Protocol):
    """A joint learner for a group of agents (dict in, dict out)."""

    def act(self, observations: Observations, explore: bool = True) -> Actions: ...

    def observe(self, transition: Transition) -> None: ...

    def update(self) -> dict[str, float]: ...

    def end_episode(self) -> None: ...

    def save(self, path: str | os.PathLike[str]) -> None: ...

    def load(self, path: str | os.PathLike[str]) -> None: ...


@runtime_checkable
class AgentLearner(Protocol):
    """A learner for a single agent; wrap a dict of them with :class:`Independent`."""

    def act(self, observation: np.ndarray, explore: bool = True) -> np.ndarray: ...

    def observe(self, transition: AgentTransition) -> None: ...

    def update(self) -> dict[str, float]: ...

    def end_episode(self) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Independent:
    """Runs one :class:`AgentLearner` per agent; the joint :class:`Learner` of independent learners.

    Agents absent from an observation dict (not live) are skipped. ``update()`` returns each
    learner's metrics prefixed by its agent id.
    """

    def __init__(self, learners: Mapping[AgentID, AgentLearner]) -> None:
        if not learners:
            raise ValueError("Independent needs at least one learner")
        self.learners = dict(learners)

    def act(self, observations: Observations, explore: bool = True) -> Actions:
        return {agent: self.learners[agent].act(observation, explore)
                for agent, observation in observations.items() if agent in self.learners}

    def observe(self, transition: Transition) -> None:
        for agent, learner in self.learners.items():
            if agent in transition.actions:
                learner.observe(transition.for_agent(agent))

    def update(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for agent, learner in self.learners.items():
            metrics.update({f"{agent}/{k}": v for k, v in learner.update().items()})
        return metrics

    def end_episode(self) -> None:
        for learner in self.learners.values():
            learner.end_episode()

    def state_dict(self) -> dict[str, Any]:
        return {agent: learner.state_dict() for agent, learner in self.learners.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = set(self.learners) - set(state)
        if missing:
            raise ValueError(f"checkpoint has no state for agents {sorted(missing)}")
        for agent, learner in self.learners.items():
            learner.load_state_dict(state[agent])

    def save(self, path: str | os.PathLike[str]) -> None:
        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        self.load_state_dict(load_state(path))


# ---------------------------------------------------------------------------- checkpoints
_SEPARATOR = "/"


def _flatten(state: Mapping[str, Any], prefix: str, arrays: dict[str, np.ndarray],
             scalars: dict[str, Any]) -> None:
    for key, value in state.items():
        if _SEPARATOR in str(key):
            raise ValueError(f"checkpoint keys may not contain {_SEPARATOR!r}: {key!r}")
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            scalars[name] = {"__dict__": True}
            _flatten(value, name + _SEPARATOR, arrays, scalars)
        elif isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"object arrays cannot be checkpointed safely: {name}")
            arrays[name] = value
        elif value is None or isinstance(value, (bool, int, float, str, list)):
            scalars[name] = {"value": value}
        elif isinstance(value, (np.integer, np.floating, np.bool_)):
            scalars[name] = {"value": value.item()}
        else:
            raise TypeError(f"cannot checkpoint {name} of type {type(value).__name__}")


def save_state(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Write a nested dict of arrays, numbers, strings, lists and dicts to ``path`` (.npz).

    The file is written atomically (a crash leaves the previous checkpoint intact).
    """
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    _flatten(state, "", arrays, scalars)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {f"a{_SEPARATOR}{k}": v for k, v in arrays.items()}
    payload["__meta__"] = np.frombuffer(json.dumps(scalars).encode(), dtype=np.uint8)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
        np.savez(handle, **payload)
    os.replace(handle.name, path)


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read what :func:`save_state` wrote; never unpickles anything."""
    with np.load(Path(path), allow_pickle=False) as data:
        scalars = json.loads(data["__meta__"].tobytes().decode())
        arrays = {k[2:]: data[k] for k in data.files if k.startswith(f"a{_SEPARATOR}")}
    state: dict[str, Any] = {}
    for name in sorted(set(scalars) | set(arrays), key=lambda k: k.count(_SEPARATOR)):
        *parents, leaf = name.split(_SEPARATOR)
        node = state
        for parent in parents:
            node = node[parent]
        if name in arrays:
            node[leaf] = arrays[name]
        elif scalars[name].get("__dict__"):
            node[leaf] = {}
        else:
            node[leaf] = scalars[name]["value"]
    return state


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A JSON-safe snapshot of a generator's state (for checkpoints)."""
    return json.loads(json.dumps(rng.bit_generator.state))


def restore_rng(state: Mapping[str, Any]) -> np.random.Generator:
    """A generator continuing exactly from a :func:`rng_state` snapshot."""
    name = state["bit_generator"]
    bit_generator = getattr(np.random, name)()
    bit_generator.state = dict(state)
    return np.random.Generator(bit_generator)
