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

import dataclasses
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


class JSONConfig:
    """Mixin of the learners' frozen config dataclasses: ``to_dict`` gives JSON-able values
    (tuple fields as lists, what checkpoints store) and ``from_dict`` reads them back."""

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in values.items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Any:
        values = dict(values)
        for field_ in dataclasses.fields(cls):  # type: ignore[arg-type]
            if isinstance(field_.default, tuple) and field_.name in values:
                values[field_.name] = tuple(values[field_.name])
        return cls(**values)


class ScriptedPolicy:
    """Base of the joint policies that do not learn (baselines, adapters of fixed teams).

    ``observe`` / ``update`` / ``end_episode`` do nothing; the state is ``state_dict()`` (the
    settings and RNG a subclass keeps; empty by default), saved and loaded with the safe
    checkpoint format, shapes checked against the policy's own on load.
    """

    def observe(self, transition: Transition) -> None:
        """Nothing to learn."""

    def update(self) -> dict[str, float]:
        return {}

    def end_episode(self) -> None:
        """Nothing to reset."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """No state by default."""

    def save(self, path: str | os.PathLike[str]) -> None:
        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        self.load_state_dict(load_state(path, like=self.state_dict()))


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
        self.load_state_dict(load_state(path, like=self.state_dict()))


# ---------------------------------------------------------------------------- checkpoints
_SEPARATOR = "/"
#: generators a checkpoint may name: nothing else is instantiated from a file's contents
ALLOWED_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


class FieldReplayBuffer:
    """A replay buffer of named float32 fields, preallocated: ``data[name]`` is
    ``(capacity, size)``. FIFO once full; :meth:`sample` draws rows uniformly with replacement
    from the learner's generator; :meth:`state_dict` holds the filled rows for checkpoints.
    The off-policy learners (MADDPG, the mean-field learners) lay their rows out on it."""

    def __init__(self, capacity: int, shapes: Mapping[str, int]) -> None:
        self.capacity = int(capacity)
        # np.zeros maps untouched pages lazily: a large capacity costs only what is filled
        self.data = {name: np.zeros((self.capacity, size), dtype=np.float32)
                     for name, size in shapes.items()}
        self.position = 0
        self.size = 0

    def add(self, row: Mapping[str, np.ndarray]) -> None:
        """Append one row (every field, each of its size)."""
        if set(row) != set(self.data):
            raise ValueError(f"replay row needs fields {sorted(self.data)}; got {sorted(row)}")
        for name, value in row.items():
            self.data[name][self.position] = value
        self.position = (self.position + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def add_rows(self, rows: Mapping[str, np.ndarray]) -> None:
        """Append ``len(rows[first field])`` rows at once (each field ``[count, size]``)."""
        count = len(rows[next(iter(self.data))])
        index = (self.position + np.arange(count)) % self.capacity
        for name, values in self.data.items():
            values[index] = np.asarray(rows[name], dtype=np.float32).reshape(count, -1)
        self.position = int((self.position + count) % self.capacity)
        self.size = min(self.size + count, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, Any]:
        index = rng.integers(0, self.size, size=batch_size)
        return {name: values[index] for name, values in self.data.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position, "size": self.size,
                "data": {name: values[: self.size].copy() for name, values in self.data.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; a checkpoint of another layout or a larger size raises
        and leaves the buffer as it was."""
        size = int(state["size"])
        if size > self.capacity or set(state["data"]) != set(self.data):
            raise ValueError("replay buffer checkpoint does not match this buffer's layout")
        for name, values in self.data.items():
            values[:] = 0.0
            values[:size] = state["data"][name]
        self.position, self.size = int(state["position"]), size


class CheckpointError(ValueError):
    """A checkpoint that cannot be written, read or used; the message names the file and the
    problem (missing, damaged, not a checkpoint of this learner, wrong shapes, NaN ...)."""

    def __init__(self, path: str | os.PathLike[str] | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"checkpoint {str(self.path)!r}" if self.path is not None else "checkpoint"
        super().__init__(f"{where}: {problem}")


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

    The file is written atomically (a crash leaves the previous checkpoint intact) and a failed
    save leaves no temporary file behind.
    """
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    _flatten(state, "", arrays, scalars)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {f"a{_SEPARATOR}{k}": v for k, v in arrays.items()}
    payload["__meta__"] = np.frombuffer(json.dumps(scalars).encode(), dtype=np.uint8)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                     delete=False) as handle:
        temp = Path(handle.name)
        try:
            np.savez(handle, **payload)
        except BaseException:
            handle.close()
            temp.unlink(missing_ok=True)
            raise
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def load_state(path: str | os.PathLike[str], like: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """Read what :func:`save_state` wrote; never unpickles anything.

    With ``like`` (the learner's current ``state_dict()``) the file must hold the same nested keys,
    arrays of the same shapes and kinds, and finite floats wherever ``like`` has finite ones.
    Every problem (missing file, damaged or foreign file, mismatch) raises :class:`CheckpointError`
    naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "__meta__" not in data.files:
                raise CheckpointError(path, "not a checkpoint of this library (no '__meta__' entry)")
            scalars = json.loads(data["__meta__"].tobytes().decode())
            arrays = {k[2:]: data[k] for k in data.files if k.startswith(f"a{_SEPARATOR}")}
    except CheckpointError:
        raise
    except Exception as exc:  # zip, npy, JSON and unicode errors of a damaged file
        raise CheckpointError(path, f"damaged or not an .npz checkpoint ({type(exc).__name__}: "
                                    f"{exc})") from None
    if not isinstance(scalars, dict):
        raise CheckpointError(path, "damaged metadata (not a JSON object)")
    state: dict[str, Any] = {}
    try:
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
    except (KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(path, f"damaged metadata ({type(exc).__name__}: {exc})") from None
    if like is not None:
        check_state_like(state, like, path)
    return state


def check_state_like(state: Mapping[str, Any], like: Mapping[str, Any],
                     path: str | os.PathLike[str] | None = None, prefix: str = "") -> None:
    """Raise :class:`CheckpointError` unless ``state`` matches ``like`` (keys, shapes, kinds,
    finiteness); see :func:`load_state`."""
    if not isinstance(state, Mapping):
        raise CheckpointError(path, f"{prefix or 'the state'} is not a dict")
    missing = sorted(set(like) - set(state))
    extra = sorted(set(state) - set(like))
    if missing or extra:
        raise CheckpointError(path, f"keys under {prefix or 'the root'} differ from this learner's: "
                                    f"missing {missing}, unexpected {extra}")
    if "bit_generator" in like and state.get("bit_generator") not in ALLOWED_BIT_GENERATORS:
        raise CheckpointError(path, f"{prefix or 'the state'} names bit generator "
                                    f"{state.get('bit_generator')!r}; allowed: "
                                    f"{list(ALLOWED_BIT_GENERATORS)}")
    for key, reference in like.items():
        name = f"{prefix}{key}"
        value = state[key]
        if isinstance(reference, Mapping):
            check_state_like(value, reference, path, name + _SEPARATOR)
        elif isinstance(reference, np.ndarray):
            if not isinstance(value, np.ndarray):
                raise CheckpointError(path, f"{name} is not an array")
            growable = reference.ndim and reference.shape[0] == 0  # an empty buffer that grows
            if value.shape != reference.shape and not (
                    growable and value.shape[1:] == reference.shape[1:]):
                raise CheckpointError(path, f"{name} has shape {value.shape}; this learner needs "
                                            f"{reference.shape}")
            if _kind(value) != _kind(reference):
                raise CheckpointError(path, f"{name} has dtype {value.dtype}; this learner needs "
                                            f"{reference.dtype}")
            if value.dtype.kind in "fc" and not np.all(np.isfinite(value)[np.isfinite(reference)]):
                raise CheckpointError(path, f"{name} holds NaN or inf")
        elif isinstance(reference, (bool, np.bool_)) != isinstance(value, (bool, np.bool_)):
            raise CheckpointError(path, f"{name} is {value!r}; this learner stores a "
                                        f"{type(reference).__name__}")
        elif isinstance(reference, float) and isinstance(value, (int, float)):
            if np.isfinite(reference) and not np.isfinite(value):
                raise CheckpointError(path, f"{name} is {value!r}")


def _kind(array: np.ndarray) -> str:
    return {"i": "int", "u": "int", "f": "float", "b": "bool"}.get(array.dtype.kind, array.dtype.kind)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A JSON-safe snapshot of a generator's state (for checkpoints)."""
    return json.loads(json.dumps(rng.bit_generator.state))


def restore_rng(state: Mapping[str, Any]) -> np.random.Generator:
    """A generator continuing exactly from a :func:`rng_state` snapshot.

    Only the bit generators in :data:`ALLOWED_BIT_GENERATORS` are instantiated: a checkpoint
    never makes this call construct an arbitrary class it names.
    """
    if not isinstance(state, Mapping) or "bit_generator" not in state:
        raise CheckpointError(None, f"damaged RNG state {state!r}")
    name = state["bit_generator"]
    if name not in ALLOWED_BIT_GENERATORS:
        raise CheckpointError(None, f"RNG state names bit generator {name!r}; allowed: "
                                    f"{list(ALLOWED_BIT_GENERATORS)}")
    bit_generator = getattr(np.random, name)()
    try:
        bit_generator.state = dict(state)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(None, f"damaged {name} state ({exc})") from None
    return np.random.Generator(bit_generator)
