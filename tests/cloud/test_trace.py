"""The Google cluster trace (2011 task_events) loader and the shipped synthetic sample."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from auction_envs.envs.cloud.trace import (
    COLUMNS,
    SUBMIT,
    load_task_events,
    sample_path,
    synthetic_task_events,
    write_task_events,
)

ROWS = [
    # timestamp, missing, job, task, machine, type, user, class, prio, cpu, mem, disk, diff
    ["5000000", "", "10", "0", "", "0", "alice=", "1", "2", "0.1", "0.2", "0.01", "0"],
    ["1000000", "", "11", "0", "", "0", "bob=", "0", "9", "0.05", "0.1", "0.001", "1"],
    ["2000000", "", "11", "0", "77", "1", "bob=", "0", "9", "0.05", "0.1", "0.001", "1"],
    ["3000000", "", "12", "0", "", "0", "carol=", "0", "0", "", "0.1", "0.001", "0"],  # no cpu
    ["0", "", "13", "0", "", "0", "dave=", "0", "0", "0.2", "0.1", "0.001", "0"],  # before window
]


def test_schema_has_thirteen_columns():
    assert len(COLUMNS) == 13
    assert COLUMNS[5] == "event_type" and COLUMNS[9:12] == ("cpu_request", "memory_request",
                                                             "disk_request")


def test_loader_filters_sorts_and_reads_gzip(tmp_path):
    plain = tmp_path / "part-00000-of-00500.csv"
    write_task_events(ROWS, plain)
    zipped = tmp_path / "part-00001-of-00500.csv.gz"
    write_task_events(ROWS, zipped)
    events = load_task_events(plain)
    assert len(events) == 2  # SUBMIT only, complete requests, inside the window
    np.testing.assert_array_equal(events.timestamp, [1000000, 5000000])
    np.testing.assert_array_equal(events.job_id, [11, 10])
    assert [events.users[u] for u in events.user] == ["bob=", "alice="]
    np.testing.assert_allclose(events.requests, [[0.05, 0.1, 0.001], [0.1, 0.2, 0.01]])
    np.testing.assert_array_equal(events.priority, [9, 2])
    zipped_events = load_task_events(zipped)
    np.testing.assert_array_equal(zipped_events.timestamp, events.timestamp)
    both = load_task_events(tmp_path)  # a directory: both files
    assert len(both) == 4
    assert len(load_task_events(str(tmp_path / "*.csv.gz"))) == 2
    assert len(load_task_events([plain, zipped], event_types=(0, 1))) == 6
    assert len(load_task_events(tmp_path, max_events=1)) == 1


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_task_events(tmp_path / "missing.csv")
    short = tmp_path / "short.csv"
    short.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="13"):
        load_task_events(short)
    only_schedule = tmp_path / "schedule.csv"
    write_task_events([ROWS[2]], only_schedule)
    with pytest.raises(ValueError, match="no events"):
        load_task_events(only_schedule)


def test_shipped_sample_is_the_documented_synthetic_one():
    path = sample_path()
    assert path.is_file() and path.name.endswith(".csv.gz")
    with gzip.open(path, "rt") as handle:
        shipped = [line.rstrip("\n").split(",") for line in handle]
    assert all(len(row) == 13 for row in shipped)
    assert shipped == synthetic_task_events()  # regenerated bit for bit from its seed
    events = load_task_events(path)
    assert len(events) > 5000 and len(events.users) > 50
    assert set(np.unique(events.event_type)) == {SUBMIT}
    assert np.all((events.requests > 0) & (events.requests <= 0.5))
    assert np.all(np.diff(events.timestamp) >= 0)
