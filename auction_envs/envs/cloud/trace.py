"""Google cluster trace (2011, "clusterdata-2011-2") task-event files: loader and synthetic sample.

The published schema of ``task_events`` (headerless CSV, one file per part, usually gzipped,
``task_events/part-00000-of-00500.csv.gz``), column by column:

====  ==============================  ==========================================================
 #    field                           content
====  ==============================  ==========================================================
 0    timestamp                       microseconds since 600 s before the trace start (int)
 1    missing info                    empty, or a code for a synthesized record (int)
 2    job ID                          int
 3    task index                      int, within the job
 4    machine ID                      int, empty for events without a machine (e.g. SUBMIT)
 5    event type                      0 SUBMIT, 1 SCHEDULE, 2 EVICT, 3 FAIL, 4 FINISH, 5 KILL,
                                      6 LOST, 7 UPDATE_PENDING, 8 UPDATE_RUNNING
 6    user                            opaque (hashed, base64) user name
 7    scheduling class                0-3
 8    priority                        0-11
 9    CPU request                     float, normalized to the largest machine's CPU capacity
10    memory request                  float, normalized to the largest machine's memory
11    disk space request              float, normalized to the largest machine's local disk
12    different-machines restriction  0/1
====  ==============================  ==========================================================

:func:`load_task_events` reads one file, a list of files, a directory or a glob pattern and keeps
the SUBMIT events (a buyer's arrival) with complete resource requests. The package ships a **small
synthetic sample** in exactly this schema, ``data/task_events_sample.csv.gz``, written by
:func:`synthetic_task_events` (``python -m auction_envs.envs.cloud.trace`` rewrites it). It is
*not* real trace data: arrival counts, users, jobs and requests are drawn from simple distributions
chosen to look like the trace's (bursty arrivals, a few heavy users, small normalized requests). Pass
``trace_path=`` to the env to use real files.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

COLUMNS = (
    "timestamp", "missing_info", "job_id", "task_index", "machine_id", "event_type", "user",
    "scheduling_class", "priority", "cpu_request", "memory_request", "disk_request",
    "different_machines",
)
SUBMIT, SCHEDULE, EVICT, FAIL, FINISH, KILL, LOST, UPDATE_PENDING, UPDATE_RUNNING = range(9)
SAMPLE_NAME = "task_events_sample.csv.gz"


@dataclass(frozen=True)
class TaskEvents:
    """Task events of one or more trace files, sorted by timestamp (stable: file order on ties).

    Attributes (one entry per event): ``timestamp`` (int64, µs), ``job_id`` (int64), ``task_index``
    (int64), ``event_type`` (int64), ``user`` (int64 code into ``users``), ``priority`` (int64),
    ``cpu``, ``memory``, ``disk`` (float64, normalized requests), and ``users`` (the distinct user
    names, sorted).
    """

    timestamp: np.ndarray
    job_id: np.ndarray
    task_index: np.ndarray
    event_type: np.ndarray
    user: np.ndarray
    priority: np.ndarray
    cpu: np.ndarray
    memory: np.ndarray
    disk: np.ndarray
    users: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.timestamp.size)

    @property
    def requests(self) -> np.ndarray:
        """``(events, 3)``: normalized CPU, memory and disk requests."""
        return np.column_stack([self.cpu, self.memory, self.disk])


def sample_path() -> Path:
    """Path of the synthetic sample shipped with the package."""
    return Path(str(resources.files("auction_envs.envs.cloud") / "data" / SAMPLE_NAME))


def _expand(path: str | os.PathLike[str] | list) -> list[Path]:
    if isinstance(path, (list, tuple)):
        files = [p for item in path for p in _expand(item)]
    else:
        text = os.fspath(path)
        if os.path.isdir(text):
            files = sorted(Path(text).glob("*.csv*"))
        elif any(ch in text for ch in "*?["):
            files = [Path(p) for p in sorted(glob.glob(text))]
        else:
            files = [Path(text)]
    if not files:
        raise FileNotFoundError(f"no task-event files at {path!r}")
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"no task-event file {file}")
    return files


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def load_task_events(path: str | os.PathLike[str] | list, event_types: tuple[int, ...] = (SUBMIT,),
                     max_events: int | None = None) -> TaskEvents:
    """Read Google cluster trace ``task_events`` files (2011 schema, see the module docstring).

    Args:
        path: a file (``.csv`` or ``.csv.gz``; gzip is detected from the content), a directory (all
            its ``*.csv*`` files, in name order), a glob pattern, or a list of these.
        event_types: the event types kept (default: SUBMIT only, a buyer's arrival).
        max_events: stop after this many kept events (files are read in order).

    Rows whose timestamp is 0 (before the trace window) or ``2**63 - 1`` (after it), or whose CPU,
    memory or disk request is missing, are skipped. Rows with fewer than 13 fields raise
    ``ValueError`` naming the file and line.

    Returns:
        the kept events as a :class:`TaskEvents`, sorted by timestamp.
    """
    keep = {int(e) for e in event_types}
    rows: list[tuple] = []
    for file in _expand(path):
        with _open_text(file) as handle:
            for line_number, fields in enumerate(csv.reader(handle), start=1):
                if not fields:
                    continue
                if len(fields) < len(COLUMNS):
                    raise ValueError(f"{file}:{line_number}: {len(fields)} fields, expected "
                                     f"{len(COLUMNS)} (Google cluster trace 2011 task_events)")
                try:
                    event_type = int(fields[5])
                    if event_type not in keep or not all(fields[9:12]):
                        continue
                    timestamp = int(fields[0])
                    if timestamp <= 0 or timestamp >= 2 ** 63 - 1:
                        continue
                    rows.append((timestamp, int(fields[2]), int(fields[3]), event_type, fields[6],
                                 int(fields[8]) if fields[8] else 0, float(fields[9]),
                                 float(fields[10]), float(fields[11])))
                except ValueError as error:
                    raise ValueError(f"{file}:{line_number}: {error}") from None
                if max_events is not None and len(rows) >= max_events:
                    break
        if max_events is not None and len(rows) >= max_events:
            break
    if not rows:
        raise ValueError(f"no events of types {sorted(keep)} with complete requests in {path!r}")
    columns = list(zip(*rows))
    users, user_codes = np.unique(np.array(columns[4], dtype=object).astype(str),
                                  return_inverse=True)
    timestamp = np.array(columns[0], dtype=np.int64)
    order = np.argsort(timestamp, kind="stable")
    integer = [np.array(c, dtype=np.int64)[order] for c in (columns[0], columns[1], columns[2],
                                                             columns[3])]
    requests = [np.array(c, dtype=np.float64)[order] for c in columns[6:9]]
    if np.any(np.concatenate(requests) < 0):
        raise ValueError(f"negative resource request in {path!r}")
    return TaskEvents(
        timestamp=integer[0], job_id=integer[1], task_index=integer[2], event_type=integer[3],
        user=user_codes.astype(np.int64)[order], priority=np.array(columns[5], np.int64)[order],
        cpu=requests[0], memory=requests[1], disk=requests[2],
        users=tuple(str(u) for u in users),
    )


# ---------------------------------------------------------------------------- synthetic sample
def synthetic_task_events(seed: int = 2011, seconds: int = 600, mean_per_second: float = 10.0,
                          n_users: int = 120) -> list[list[str]]:
    """Rows of a **synthetic** task-event table in the 2011 schema (not real trace data).

    ``seconds`` one-second windows starting at the trace's first timestamp (600 s = 6e8 µs); the
    number of new tasks per window is negative binomial with mean ``mean_per_second`` (bursty);
    tasks come in jobs of 1-8 tasks owned by one of ``n_users`` users with Zipf-like activity;
    normalized requests are log-normal (CPU median 0.05, memory median 0.035, disk median 0.004,
    clipped to [1e-4, 0.5]). Every task has a SUBMIT row; about a third also get SCHEDULE and
    FINISH rows on a machine, so that the loader's event filter is exercised.
    """
    rng = np.random.default_rng(seed)
    users = [_user_name(rng) for _ in range(n_users)]
    activity = 1.0 / np.arange(1, n_users + 1) ** 1.1
    activity /= activity.sum()
    rows: list[list[str]] = []
    job_id = 6_250_000_000
    start = 600_000_000
    for second in range(seconds):
        count = int(rng.negative_binomial(2, 2 / (2 + mean_per_second)))
        made = 0
        while made < count:
            job_id += int(rng.integers(1, 50))
            tasks = min(int(rng.integers(1, 9)), count - made)
            user = users[int(rng.choice(n_users, p=activity))]
            scheduling_class = int(rng.integers(0, 4))
            priority = int(rng.choice([0, 1, 2, 4, 9, 10], p=[.3, .2, .1, .25, .1, .05]))
            cpu = float(np.clip(rng.lognormal(np.log(0.05), 0.6), 1e-4, 0.5))
            memory = float(np.clip(rng.lognormal(np.log(0.035), 0.7), 1e-4, 0.5))
            disk = float(np.clip(rng.lognormal(np.log(0.004), 0.8), 1e-4, 0.5))
            restriction = int(rng.random() < 0.05)
            for task in range(tasks):
                stamp = start + second * 1_000_000 + int(rng.integers(0, 1_000_000))
                base = [str(job_id), str(task)]
                requests = [f"{cpu:.6g}", f"{memory:.6g}", f"{disk:.6g}", str(restriction)]
                rows.append([str(stamp), "", *base, "", str(SUBMIT), user, str(scheduling_class),
                             str(priority), *requests])
                if rng.random() < 1 / 3:
                    machine = str(int(rng.integers(1, 7000)) * 1000 + 5)
                    scheduled = stamp + int(rng.integers(1_000, 5_000_000))
                    finished = scheduled + int(rng.integers(10_000_000, 600_000_000))
                    for stamp_, kind in ((scheduled, SCHEDULE), (finished, FINISH)):
                        rows.append([str(stamp_), "", *base, machine, str(kind), user,
                                     str(scheduling_class), str(priority), *requests])
            made += tasks
    rows.sort(key=lambda row: int(row[0]))
    return rows


def _user_name(rng: np.random.Generator) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "".join(alphabet[i] for i in rng.integers(0, 64, size=43)) + "="


def write_task_events(rows: list[list[str]], path: str | os.PathLike[str]) -> None:
    """Write rows as a headerless CSV, gzipped when ``path`` ends in ``.gz`` (reproducible bytes)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    data = buffer.getvalue().encode()
    if os.fspath(path).endswith(".gz"):
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                    mtime=0) as handle:
            handle.write(data)
    else:
        Path(path).write_bytes(data)


if __name__ == "__main__":
    target = Path(__file__).with_name("data") / SAMPLE_NAME
    target.parent.mkdir(exist_ok=True)
    write_task_events(synthetic_task_events(), target)
    print(f"wrote {target} ({target.stat().st_size} bytes)")
