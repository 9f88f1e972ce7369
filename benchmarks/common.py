"""Shared plumbing of the benchmark and reproduction scripts (one mechanism, one place).

Every ``python -m benchmarks.<name>`` script

* explains itself in ``--help``: :func:`benchmark_parser` uses the module docstring (what is
  reproduced, which paper claim) as the description, and every argument has a help string;
* takes ``--json PATH``, ``--no-progress`` and, where it plots, ``--png PATH``
  (:func:`add_output_arguments`);
* writes its JSON *incrementally*: :class:`IncrementalResults` rewrites the file atomically (temp
  file beside it, then :func:`os.replace`) after each finished unit of work, so a crash mid-run
  leaves the finished results on disk as valid JSON;
* resumes: each finished cell (one job of a grid) is appended to ``PATH.cells.jsonl``
  (:class:`CellStore`), and a rerun with the same ``--json PATH`` takes finished cells from it and
  runs only the missing ones (``--restart`` ignores them); a torn last line is skipped;
* shows a progress bar on long loops (:func:`progress`, tqdm if installed);
* runs independent jobs, optionally in a process pool, with :func:`run_jobs`, which records each
  result as it completes and returns them in job order (deterministic whatever the completion
  order).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any


def benchmark_parser(doc: str | None, prog: str) -> argparse.ArgumentParser:
    """An argument parser whose ``--help`` shows the whole module docstring ``doc`` verbatim."""
    return argparse.ArgumentParser(prog=prog, description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def add_output_arguments(parser: argparse.ArgumentParser, *, json_help: str | None = None,
                         png: bool = False, png_default: str | None = None,
                         png_aliases: Sequence[str] = ()) -> None:
    """Add the standard output switches to ``parser``.

    ``--json PATH`` (``args.json``, default None: no file), ``--no-progress``
    (``args.no_progress``) and, when ``png`` or ``png_default`` is given, ``--png PATH``
    (``args.png``; an empty string turns the figure off). ``png_aliases`` are older spellings of
    ``--png`` kept working (e.g. ``--plot``).
    """
    parser.add_argument("--json", default=None, metavar="PATH",
                        help=json_help or "write the results as JSON to PATH, rewritten after each "
                                          "finished unit of work (a crash keeps what finished)")
    if png or png_default is not None:
        default = f" (default {png_default}; '' for none)" if png_default else " (default: none)"
        parser.add_argument("--png", *png_aliases, dest="png", default=png_default, metavar="PATH",
                            help=f"write the figure to PATH{default}")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--restart", action="store_true",
                        help="with --json PATH: recompute every cell instead of resuming the "
                             "finished ones stored in PATH.cells.jsonl by an earlier run")


class CellStore:
    """Finished cells of a benchmark grid, appended to a JSON-lines file as each one finishes.

    A cell is keyed by a JSON-able description of its job (its arguments); :meth:`get` returns the
    stored result of an earlier run (or ``None``), :meth:`put` appends one line and flushes it. The
    file is only ever appended to; a torn last line (a kill mid-write) is ignored and sealed off.
    Results come back as decoded JSON (numpy arrays as lists).

    >>> store = CellStore(None)
    >>> store.put(("cell", 1), {"x": 2}); store.get(("cell", 1))
    {'x': 2}
    """

    def __init__(self, path: str | os.PathLike | None, restart: bool = False) -> None:
        self.path = Path(path) if path else None
        self.cells: dict[str, Any] = {}
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and not restart:
            with self.path.open("rb") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                        self.cells[record["key"]] = record["result"]
                    except (ValueError, KeyError, TypeError):
                        continue  # torn or foreign line
        if restart and self.path.exists():
            self.path.replace(self.path.with_name(self.path.name + ".old"))
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as handle:
                handle.seek(-1, os.SEEK_END)
                torn = handle.read(1) != b"\n"
            if torn:
                with self.path.open("ab") as handle:
                    handle.write(b"\n")

    @staticmethod
    def key(job: Any) -> str:
        return json.dumps(job, default=_default, sort_keys=True)

    def __contains__(self, job: Any) -> bool:
        return self.key(job) in self.cells

    def __len__(self) -> int:
        return len(self.cells)

    def get(self, job: Any) -> Any:
        return self.cells.get(self.key(job))

    def put(self, job: Any, result: Any) -> None:
        key = self.key(job)
        # the stored form is what a resumed run gets back: keep both runs on the same values
        result = json.loads(json.dumps(result, default=_default))
        self.cells[key] = result
        if self.path is not None:
            with self.path.open("ab") as handle:
                handle.write(json.dumps({"key": key, "result": result}).encode() + b"\n")
                handle.flush()


def cell_store(args: argparse.Namespace) -> CellStore:
    """The :class:`CellStore` beside ``args.json`` (in memory only without ``--json``)."""
    json_path = getattr(args, "json", None)
    return CellStore(f"{json_path}.cells.jsonl" if json_path else None,
                     restart=getattr(args, "restart", False))


def _default(value: Any) -> Any:
    """JSON encoder fallback for numpy scalars and arrays and paths."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_json_atomic(path: str | os.PathLike, data: Any, indent: int | None = 1) -> None:
    """Write ``data`` as JSON to ``path`` atomically: a temp file in the same folder, then
    :func:`os.replace`, so readers (and a crash) see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "w") as stream:
            json.dump(data, stream, indent=indent, default=_default)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


class IncrementalResults:
    """A JSON payload (a list or a dict) kept on disk as it grows.

    Each :meth:`add` / :meth:`update` / :meth:`set` rewrites ``path`` atomically
    (:func:`write_json_atomic`); with ``path`` None they only change the payload in memory.

    >>> results = IncrementalResults(None, [])
    >>> results.add({"cell": 1})
    >>> results.payload
    [{'cell': 1}]
    """

    def __init__(self, path: str | os.PathLike | None, payload: list | dict | None = None,
                 indent: int | None = 1) -> None:
        self.path = Path(path) if path else None
        self.payload: Any = {} if payload is None else payload
        self.indent = indent

    def add(self, item: Any, key: str | None = None) -> None:
        """Append ``item`` to the payload (a list), or to ``payload[key]`` (created if absent)."""
        target = self.payload if key is None else self.payload.setdefault(key, [])
        target.append(item)
        self.write()

    def update(self, *args: Any, **fields: Any) -> None:
        """``payload.update(...)`` (a dict payload), then write."""
        self.payload.update(*args, **fields)
        self.write()

    def set(self, payload: Any) -> None:
        """Replace the whole payload, then write."""
        self.payload = payload
        self.write()

    def write(self) -> None:
        if self.path is not None:
            write_json_atomic(self.path, self.payload, self.indent)


def progress(iterable: Iterable, total: int | None = None, desc: str | None = None,
             enabled: bool = True) -> Iterable:
    """``iterable`` wrapped in a tqdm bar (to stderr) when ``enabled`` and tqdm is installed."""
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is in the ``bench`` extra
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False)


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int = 1,
             on_result: Callable[[int, Any], None] | None = None, show_progress: bool = True,
             desc: str = "runs", store: CellStore | None = None) -> list[Any]:
    """``[fn(*job) for job in jobs]``, in a process pool of ``workers`` when ``workers > 1``.

    ``on_result(index, result)`` is called in this process as soon as each job finishes
    (completion order, via :func:`concurrent.futures.as_completed`), so callers can save it at
    once; the returned list is in job order, so the results do not depend on scheduling. A job
    that raises propagates after the results finished before it were handed to ``on_result``.
    With a ``store`` (:func:`cell_store`), jobs it already holds are not run again: their stored
    results are handed to ``on_result`` first, and each new result is stored as it finishes. A
    job whose result goes into the store is stored in its JSON form, the same for every run. A
    cell's key is ``(fn.__name__, job)``: a job must carry every argument that changes its result
    (settings, seeds, sizes, horizons), so that a rerun with other arguments never reuses it.
    Callers build their final output from the returned list (job order), not from the order of
    ``on_result`` calls, which puts stored cells first on a resumed run.
    """
    results: list[Any] = [None] * len(jobs)

    def record(index: int, result: Any) -> None:
        if store is not None:
            store.put((getattr(fn, "__name__", "job"), jobs[index]), result)
            result = store.get((getattr(fn, "__name__", "job"), jobs[index]))
        results[index] = result
        if on_result is not None:
            on_result(index, result)

    if store is not None:
        pending = []
        for index, job in enumerate(jobs):
            key = (getattr(fn, "__name__", "job"), job)
            if key not in store:  # a stored None is a finished cell too
                pending.append(index)
            else:
                results[index] = store.get(key)
                if on_result is not None:
                    on_result(index, results[index])
        if len(pending) < len(jobs):
            finished = run_jobs(fn, [jobs[i] for i in pending], workers,
                                lambda k, result: record(pending[k], result), show_progress, desc)
            del finished
            return results

    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(workers) as pool:
            futures = {pool.submit(fn, *job): index for index, job in enumerate(jobs)}
            try:
                for future in progress(as_completed(futures), len(futures), desc, show_progress):
                    record(futures[future], future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    else:
        for index, job in progress(enumerate(jobs), len(jobs), desc, show_progress):
            record(index, fn(*job))
    return results


def plt_agg():
    """``matplotlib.pyplot`` with the non-interactive Agg backend (raises ImportError if absent)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure; returns the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path
