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


def _numbers(value: Any, out: list[float]) -> None:
    """Every number in ``value`` (dicts in sorted key order) appended to ``out`` as a float."""
    if isinstance(value, Mapping):
        for key in sorted(value, key=str):
            _numbers(value[key], out)
    elif isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            out.extend(array.astype(np.float64).ravel().tolist())
        else:
            for item in value:
                _numbers(item, out)
    elif isinstance(value, (numbers.Real, np.bool_)):
        out.append(float(value))


def summary(value: Any) -> list[float]:
    """``[sum, sum |x|, sum w_k x_k]`` of the finite numbers in ``value`` (``w_k = 1 + (k mod 7)
    / 7``, so a permutation shows), and the count of non-finite ones: what :func:`compare` checks
    to a tolerance when the bit-exact digest differs (another numpy build, another CPU)."""
    values: list[float] = []
    _numbers(value, values)
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    weights = 1.0 + (np.arange(finite.size) % 7) / 7.0
    return [float(finite.sum()), float(np.abs(finite).sum()), float(finite @ weights),
            float(array.size - finite.size)]


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
    steps_summary: list[dict[str, list[float]]] = [
        {"observations": summary(observations), "infos": summary(infos)}]
    episode = 0
    for t in range(steps):
        if not env.agents:
            episode += 1
            observations, infos = env.reset(seed=seed + episode)
            steps_digest.append({"reset_observations": digest(observations), "infos": digest(infos)})
            steps_summary.append({"reset_observations": summary(observations),
                                  "infos": summary(infos)})
        if actions is None:
            joint = {agent: sample_action(env.action_space(agent), rng) for agent in env.agents}
        else:
            joint = {agent: np.asarray(actions[agent][t]) for agent in env.agents}
        for agent, action in joint.items():  # agents stay alive for the whole episode
            played[agent].append(np.asarray(action))
        observations, rewards, terminations, truncations, infos = env.step(joint)
        returned = {"observations": observations, "rewards": rewards,
                    "terminations": terminations, "truncations": truncations, "infos": infos}
        steps_digest.append({key: digest(value) for key, value in returned.items()})
        steps_summary.append({key: summary(value) for key, value in returned.items()})
    metrics = env.unwrapped.metrics()
    try:
        final_state = env.unwrapped.state()
        state, state_summary = digest(final_state), summary(final_state)
    except (NotImplementedError, RuntimeError):
        state = state_summary = None
    env.close()
    result = {
        "env_id": env_id, "seed": seed, "steps": steps, "kwargs": _plain(kwargs),
        "step_digests": steps_digest, "step_summaries": steps_summary,
        "metrics_digest": digest(metrics), "metrics": _plain(metrics),
        "final_state_digest": state, "final_state_summary": state_summary,
        "numpy": np.__version__,
    }
    return result, {agent: np.stack(values) for agent, values in played.items()}


def file_stem(env_id: str) -> str:
    return env_id.replace("/", "__")


def save(directory: Path, result: dict[str, Any], actions: Mapping[str, np.ndarray]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(result["env_id"])
    # one line per step for the summaries (the file stays readable and about a third the size)
    summaries = result.get("step_summaries")
    text = json.dumps({**result, "step_summaries": "@summaries@"} if summaries is not None
                      else result, indent=1, sort_keys=True)
    if summaries is not None:
        text = text.replace('"@summaries@"', "[\n  " + ",\n  ".join(
            json.dumps(step, sort_keys=True) for step in summaries) + "\n ]")
    (directory / f"{stem}.json").write_text(text + "\n")
    np.savez_compressed(directory / f"{stem}.npz", **actions)


def load(directory: Path, env_id: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    stem = file_stem(env_id)
    result = json.loads((directory / f"{stem}.json").read_text())
    with np.load(directory / f"{stem}.npz") as data:
        actions = {key: data[key] for key in data.files}
    return result, actions


#: relative tolerance of :func:`compare` when a digest differs: floating-point noise of another
#: numpy build or CPU (seen: 1e-15 after 200 rounds) passes, any behaviour change does not
RELATIVE_TOLERANCE = 1e-9


def _close(want: Any, got: Any, rtol: float = RELATIVE_TOLERANCE) -> bool:
    """Summaries / plain metrics equal to ``rtol`` of their own scale (exact for non-numbers)."""
    if isinstance(want, dict) and isinstance(got, dict):
        return set(want) == set(got) and all(_close(want[k], got[k], rtol) for k in want)
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return False
        if all(isinstance(v, (int, float)) for v in want + got):
            a, b = np.asarray(want, dtype=np.float64), np.asarray(got, dtype=np.float64)
            scale = max(float(np.max(np.abs(a), initial=0.0)), 1e-300)
            return bool(np.all(np.abs(a - b) <= rtol * scale))
        return all(_close(w, g, rtol) for w, g in zip(want, got))
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return abs(want - got) <= rtol * max(abs(want), abs(got), 1e-300)
    return want == got


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable differences between two records (empty when they match).

    A record matches bit for bit (every digest equal) on the machine and libraries that made it.
    Where a digest differs, the step's summaries (:func:`summary`) and the plain metrics must
    agree to :data:`RELATIVE_TOLERANCE`: last-bit noise of another numpy build or CPU passes,
    a changed value, a flipped branch or a reordered output does not.
    """
    problems = []
    summaries = expected.get("step_summaries")
    for t, (want, got) in enumerate(zip(expected["step_digests"], actual["step_digests"])):
        changed = sorted(key for key in set(want) | set(got) if want.get(key) != got.get(key))
        if changed and summaries is not None:
            want_summary, got_summary = summaries[t], actual["step_summaries"][t]
            changed = [key for key in changed
                       if not _close(want_summary.get(key), got_summary.get(key))]
        if changed:
            problems.append(f"step {t}: {', '.join(changed)} differ")
            break
    if len(expected["step_digests"]) != len(actual["step_digests"]):
        problems.append("number of steps differs")
    bit_equal = expected["metrics_digest"] == actual["metrics_digest"]
    if not bit_equal and not (summaries is not None
                              and _close(expected["metrics"], actual["metrics"])):
        diff = {key: (expected["metrics"].get(key), actual["metrics"].get(key))
                for key in set(expected["metrics"]) | set(actual["metrics"])
                if expected["metrics"].get(key) != actual["metrics"].get(key)}
        problems.append(f"metrics differ: {diff}")
    if expected.get("final_state_digest") != actual.get("final_state_digest") and not (
            summaries is not None and _close(expected.get("final_state_summary"),
                                             actual.get("final_state_summary"))):
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
