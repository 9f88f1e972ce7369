"""Loggers for the runner: an append-only JSON-lines progress log always, TensorBoard when
``torch.utils.tensorboard`` is installed, and a CSV export of the log.

``progress.jsonl`` is the record of a run. It is only ever appended to, one JSON object per line,
flushed as each row is logged; nothing is kept in memory and nothing is rewritten in place, so a
kill at any moment loses at most the row being written. :func:`read_progress` reads it back:

* a torn last line (a kill mid-write) is skipped, and :class:`ProgressLog` seals it with a newline
  before appending, so it can never glue itself to the next row;
* a resumed run appends a ``{"resume_from": R}`` marker; rows of the abandoned run logged after
  its last checkpoint (``step > R``) are dropped when the marker is read, so a resume never
  duplicates a row.

``progress.csv`` is an export for spreadsheets (:func:`export_csv`, written atomically).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

RESUME_MARKER = "resume_from"


def scalars(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten metrics to scalars: numbers as they are, arrays as their mean (``key`` + ``_mean``)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, (bool, int, float, np.integer, np.floating)):
            out[name] = float(value)
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.size:
            out[name] = float(value) if value.size == 1 else float(value.mean())
    return out


def _json_number(value: float) -> float | str:
    # JSON has no NaN/inf: keep them readable and round-trippable as strings
    return value if math.isfinite(value) else repr(value)


class ProgressLog:
    """Append-only JSON-lines log of ``{"step": ..., **values}`` rows (see the module docstring).

    Args:
        path: the ``.jsonl`` file (created with its folder if absent; appended to otherwise).
        resume_from: when resuming, the step of the checkpoint the run continues from; rows of the
            earlier run after that step are superseded (a marker line is appended).
    """

    def __init__(self, path: str | os.PathLike[str], resume_from: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("ab")
        if self._handle.tell() > 0:
            with self.path.open("rb") as reader:
                reader.seek(-1, os.SEEK_END)
                if reader.read(1) != b"\n":  # a torn last row: seal it off
                    self._handle.write(b"\n")
        if resume_from is not None:
            self._write({RESUME_MARKER: int(resume_from)})

    def _write(self, row: dict[str, Any]) -> None:
        self._handle.write(json.dumps(row, separators=(",", ":")).encode() + b"\n")
        self._handle.flush()

    def log(self, step: int, values: dict[str, float]) -> None:
        self._write({"step": int(step), **{k: _json_number(float(v)) for k, v in values.items()}})

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a torn row (killed mid-write)
            if isinstance(row, dict):
                yield row


def read_progress(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a progress log, in order, without torn rows or rows superseded by a resume."""
    rows: list[dict[str, Any]] = []
    for row in _rows(Path(path)):
        if RESUME_MARKER in row:
            cut = int(row[RESUME_MARKER])
            rows = [kept for kept in rows if kept.get("step", 0) <= cut]
        elif "step" in row:
            rows.append({k: (float(v) if isinstance(v, str) else v) for k, v in row.items()})
    return rows


def export_csv(log_path: str | os.PathLike[str], csv_path: str | os.PathLike[str]) -> Path:
    """Write the rows of ``log_path`` as CSV (union of the columns, in first-seen order), atomically."""
    rows = read_progress(log_path)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    csv_path = Path(csv_path)
    temp = csv_path.with_name(f".{csv_path.name}.{os.getpid()}.tmp")
    try:
        with temp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, list(columns))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temp, csv_path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return csv_path


class TensorBoardLogger:
    """Scalars to TensorBoard event files; a no-op (with one message) without tensorboard."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter  # lazy: torch is an extra
        except ImportError as exc:  # pragma: no cover - depends on the installation
            print(f"TensorBoard logging skipped ({exc}); install the 'learners' extra for it. "
                  "The progress log is still written.", file=sys.stderr)
            return
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log(self, step: int, values: dict[str, float]) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
