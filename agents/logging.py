"""Loggers for the runner: CSV always, TensorBoard when ``torch.utils.tensorboard`` is installed."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np


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


class CSVLogger:
    """Appends rows to ``path``; new columns found later are added by rewriting the file."""

    def __init__(self, path: str | os.PathLike[str], append: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns: list[str] = []
        self.rows: list[dict[str, float]] = []
        if append and self.path.exists():
            with self.path.open(newline="") as handle:
                reader = csv.DictReader(handle)
                self.columns = list(reader.fieldnames or [])
                self.rows = [{k: float(v) for k, v in row.items() if v != ""} for row in reader]
        else:
            self.path.write_text("")

    def log(self, step: int, values: dict[str, float]) -> None:
        row = {"step": float(step), **values}
        self.rows.append(row)
        new = [key for key in row if key not in self.columns]
        if new:
            self.columns.extend(new)
            self._rewrite()
        else:
            with self.path.open("a", newline="") as handle:
                csv.DictWriter(handle, self.columns).writerow(row)

    def _rewrite(self) -> None:
        with self.path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, self.columns)
            writer.writeheader()
            writer.writerows(self.rows)

    def close(self) -> None:
        """Nothing buffered: every row is on disk when ``log`` returns."""


class TensorBoardLogger:
    """Scalars to TensorBoard event files; a no-op (with one message) without tensorboard."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter  # lazy: torch is an extra
        except ImportError as exc:  # pragma: no cover - depends on the installation
            print(f"TensorBoard logging skipped ({exc}); install the 'learners' extra for it. "
                  "CSV logs are still written.", file=sys.stderr)
            return
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log(self, step: int, values: dict[str, float]) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
