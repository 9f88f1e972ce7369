"""Golden seeded trajectories: record an env's behaviour once, check later that it has not changed.

A golden record holds, for one env id and seed, the joint actions that were played and a digest of
everything the env returned at every step: observations, rewards, terminations, truncations,
infos, and ``metrics()`` at the end (also stored as plain numbers, to read a difference). Refactors
must reproduce it bit for bit; a deliberate behaviour change re-records it and says why.

Digests are taken over canonical values: every number as float64 (integers as int64), arrays
contiguous, dict keys sorted; so a refactor that turns a ``float`` into an ``np.float64`` or an
``int`` list into an array keeps the digest, while any changed value does not.

    python -m auction_envs.testing.golden --out tests/golden/data auction_envs/KellyGame-v0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

DEFAULT_STEPS = 200
DEFAULT_SEED = 0


def _canonical(value: Any, sink: Any) -> None:
    """Feed ``value`` into the hash ``sink`` in a type-insensitive, order-stable form."""
    if isinstance(value, Mapping):
        sink.update(b"{")
        for key in sorted(value, key=str):
            sink.update(str(key).encode() + b":")
            _canonical(value[key], sink)
        sink.update(b"}")
    elif isinstance(value, str):
        sink.update(b"s" + value.encode())
    elif value is None:
        sink.update(b"N")
    elif isinstance(value, (bool, np.bool_)):
        sink.update(b"b1" if value else b"b0")
    elif isinstance(value, (numbers.Number, np.generic, np.ndarray)) or (
            isinstance(value, (list, tuple)) and _is_numeric_sequence(value)):
        array = np.asarray(value)
        if array.dtype.kind == "b":
            array = array.astype(np.int64)
        array = np.ascontiguousarray(array.astype(np.int64 if array.dtype.kind in "iu" else np.float64))
        sink.update(f"a{array.shape}".encode())
        sink.update(array.tobytes())
    elif isinstance(value, (list, tuple)):
        sink.update(b"[")
        for item in value:
            _canonical(item, sink)
        sink.update(b"]")
    else:
        sink.update(b"r" + repr(value).encode())


def _is_numeric_sequence(value: Sequence[Any]) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (ValueError, TypeError):
        return False


def digest(value: Any) -> str:
    sink = hashlib.sha256()
    _canonical(value, sink)
    return sink.hexdigest()[:24]


def _plain(value: Any) -> Any:
    """JSON-able copy of metrics (numbers and lists of numbers), for reading a difference."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (np.ndarray, list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (numbers.Integral,)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        number = float(value)
        return number if np.isfinite(number) else repr(number)
    return repr(value)


def sample_action(space: spaces.Space, rng: np.random.Generator, unbounded: float = 1e3
                  ) -> np.ndarray:
    """A reproducible action inside ``space``: uniform in a Box (an infinite side replaced by
    ``±unbounded``), uniform choices for Discrete, MultiDiscrete and MultiBinary. The one sampler
    of the golden records, the conformance suite, the benchmarks and ``RandomPolicy``."""
    if isinstance(space, spaces.Box):
        low = np.where(np.isfinite(space.low), space.low, -unbounded).astype(np.float64)
        high = np.where(np.isfinite(space.high), space.high, unbounded).astype(np.float64)
        return np.clip(rng.uniform(low, high).astype(space.dtype), space.low, space.high)
    if isinstance(space, spaces.Discrete):
        return np.asarray(space.start + rng.integers(space.n), dtype=np.int64)
    if isinstance(space, spaces.MultiDiscrete):
        return (space.start + rng.integers(space.nvec)).astype(np.int64)
    if isinstance(space, spaces.MultiBinary):
        return rng.integers(2, size=space.shape).astype(np.int64)
    raise TypeError(f"no golden sampler for {space!r}")


def record(env_id: str, *, steps: int = DEFAULT_STEPS, seed: int = DEFAULT_SEED,
           actions: Mapping[str, np.ndarray] | None = None, **kwargs: Any
           ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Play ``steps`` rounds of ``env_id`` from ``reset(seed)``; return (record, actions played).

    With ``actions`` (``{agent: [steps, *shape]}``, as returned before) the same joint actions are
    replayed; otherwise they are drawn from a generator seeded with ``seed``. The episode restarts
    (same seed + 1, 2, ...) if it ends early.
    """
    import auction_envs

    env = auction_envs.make(env_id, **kwargs)
    rng = np.random.default_rng([seed, 7919])
    played: dict[str, list[np.ndarray]] = {agent: [] for agent in env.possible_agents}
    observations, infos = env.reset(seed=seed)
    steps_digest: list[dict[str, str]] = [
        {"observations": digest(observations), "infos": digest(infos)}]
    episode = 0
    for t in range(steps):
        if not env.agents:
            episode += 1
            observations, infos = env.reset(seed=seed + episode)
            steps_digest.append({"reset_observations": digest(observations), "infos": digest(infos)})
        if actions is None:
            joint = {agent: sample_action(env.action_space(agent), rng) for agent in env.agents}
        else:
            joint = {agent: np.asarray(actions[agent][t]) for agent in env.agents}
        for agent, action in joint.items():  # agents stay alive for the whole episode
            played[agent].append(np.asarray(action))
        observations, rewards, terminations, truncations, infos = env.step(joint)
        steps_digest.append({
            "observations": digest(observations), "rewards": digest(rewards),
            "terminations": digest(terminations), "truncations": digest(truncations),
            "infos": digest(infos),
        })
    metrics = env.unwrapped.metrics()
    try:
        state = digest(env.unwrapped.state())
    except (NotImplementedError, RuntimeError):
        state = None
    env.close()
    result = {
        "env_id": env_id, "seed": seed, "steps": steps, "kwargs": _plain(kwargs),
        "step_digests": steps_digest, "metrics_digest": digest(metrics), "metrics": _plain(metrics),
        "final_state_digest": state,
    }
    return result, {agent: np.stack(values) for agent, values in played.items()}


def file_stem(env_id: str) -> str:
    return env_id.replace("/", "__")


def save(directory: Path, result: dict[str, Any], actions: Mapping[str, np.ndarray]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(result["env_id"])
    (directory / f"{stem}.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    np.savez_compressed(directory / f"{stem}.npz", **actions)


def load(directory: Path, env_id: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    stem = file_stem(env_id)
    result = json.loads((directory / f"{stem}.json").read_text())
    with np.load(directory / f"{stem}.npz") as data:
        actions = {key: data[key] for key in data.files}
    return result, actions


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable differences between two records (empty when they match bit for bit)."""
    problems = []
    for t, (want, got) in enumerate(zip(expected["step_digests"], actual["step_digests"])):
        changed = sorted(key for key in set(want) | set(got) if want.get(key) != got.get(key))
        if changed:
            problems.append(f"step {t}: {', '.join(changed)} differ")
            break
    if len(expected["step_digests"]) != len(actual["step_digests"]):
        problems.append("number of steps differs")
    if expected["metrics_digest"] != actual["metrics_digest"]:
        diff = {key: (expected["metrics"].get(key), actual["metrics"].get(key))
                for key in set(expected["metrics"]) | set(actual["metrics"])
                if expected["metrics"].get(key) != actual["metrics"].get(key)}
        problems.append(f"metrics differ: {diff}")
    if expected.get("final_state_digest") != actual.get("final_state_digest"):
        problems.append("final state differs")
    return problems


def main(argv: Sequence[str] | None = None) -> None:
    import auction_envs

    parser = argparse.ArgumentParser(description="Record golden seeded trajectories of registered "
                                     "envs (all ids when none is given).")
    parser.add_argument("ids", nargs="*", help="env ids to record (default: every registered id)")
    parser.add_argument("--out", type=Path, default=Path("tests/golden/data"),
                        help="folder of the .json digests and .npz actions")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="rounds per record")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="reset seed")
    args = parser.parse_args(argv)
    for env_id in args.ids or auction_envs.list_envs():
        result, actions = record(env_id, steps=args.steps, seed=args.seed)
        save(args.out, result, actions)
        print(f"recorded {env_id}: {args.steps} steps")


if __name__ == "__main__":
    main()
