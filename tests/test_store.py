"""The store: rows written whole, progress, tables, resume, and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import forgetmap
from forgetmap.errors import StoreConflictError, StoreError, StoreNotFoundError


def _new_store(path, m=4, n=6, **kwargs):
    return forgetmap.create_store(
        path,
        [f"t{i}" for i in range(m)],
        [f"e{j}" for j in range(n)],
        example_table={"source": ["a"] * n, "text": [f"text {j}" for j in range(n)]},
        task_table={"group": ["x", "x", "y", "y"][:m]},
        **kwargs,
    )


def test_rows_are_missing_until_written_then_read_back(tmp_path):
    store = _new_store(tmp_path / "run")
    assert store.shape == (4, 6)
    assert store.finished() == [] and store.missing() == ["t0", "t1", "t2", "t3"]
    assert np.isnan(store.forgetting()).all()

    row = np.linspace(-1, 1, 6, dtype=np.float32)
    store.write_row("t2", row, summary={"train": {"first_loss": 3.0, "last_loss": 1.5}})
    assert store.finished() == ["t2"] and store.is_finished("t2") and not store.is_finished(0)
    matrix = forgetmap.open_store(tmp_path / "run").forgetting()
    assert_array_equal(matrix[2], row)
    assert np.isnan(matrix[[0, 1, 3]]).all()
    assert_array_equal(store.forgetting(finished_only=True), row[None, :])

    tasks = store.tasks()
    assert list(tasks.index) == ["t0", "t1", "t2", "t3"]
    assert tasks.loc["t2", "train.last_loss"] == 1.5 and bool(tasks.loc["t2", "finished"])
    assert store.examples().loc["e3", "text"] == "text 3"
    assert store.groups() == {"x": ["t0", "t1"], "y": ["t2", "t3"]}


def test_scores_and_metrics(tmp_path):
    store = _new_store(tmp_path / "run", metrics=["nll", "exact_match"], with_scores=True)
    before = np.arange(6, dtype=np.float32)
    store.write_before({"nll": before, "exact_match": np.ones(6)})
    assert store.has_before()
    store.write_row(
        "t0",
        {"nll": np.ones(6), "exact_match": np.zeros(6)},
        after={"nll": before + 1, "exact_match": np.ones(6)},
    )
    assert_array_equal(store.before(), before)
    assert_array_equal(store.after("nll")[0], before + 1)
    assert_array_equal(store.forgetting("exact_match")[0], np.zeros(6))
    with pytest.raises(StoreError, match="unknown metric"):
        store.forgetting("bleu")


def test_bad_rows_are_refused(tmp_path):
    store = _new_store(tmp_path / "run")
    with pytest.raises(StoreError, match="shape"):
        store.write_row("t0", np.zeros(5))
    with pytest.raises(StoreError, match="inf"):
        store.write_row("t0", np.array([0, 0, np.inf, 0, 0, 0]))
    with pytest.raises(StoreError, match="unknown task"):
        store.write_row("nope", np.zeros(6))
    assert store.finished() == []


def test_resume_opens_the_same_store_and_refuses_a_different_one(tmp_path):
    store = _new_store(tmp_path / "run", config={"seed": 1})
    store.write_row("t1", np.ones(6))
    again = _new_store(tmp_path / "run", config={"seed": 1})
    assert again.finished() == ["t1"]
    with pytest.raises(StoreConflictError, match="different store"):
        _new_store(tmp_path / "run", config={"seed": 2})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(StoreConflictError, match="non-empty directory"):
        _new_store(tmp_path / "other")


def test_open_missing_store(tmp_path):
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        forgetmap.open_store(tmp_path / "none")


def test_artifacts_round_trip_without_pickle(tmp_path):
    store = _new_store(tmp_path / "run")
    store.save_json("analysis", {"r2": float("nan"), "k": [1, 2]})
    assert store.load_json("analysis") == {"r2": None, "k": [1, 2]}
    store.save_array("similarity", np.eye(3))
    assert_array_equal(store.load_array("similarity"), np.eye(3))
    assert store.load_json("absent") is None
    with pytest.raises(StoreError):
        store.save_array("bad", np.array([object()]))


def _write_rows(path: str, rows: list[int], n: int, repeats: int) -> None:
    store = forgetmap.open_store(path)
    for _ in range(repeats):
        for row in rows:
            store.write_row(row, np.full(n, row, dtype=np.float32), summary={"by": os.getpid()})


def test_concurrent_writers_of_different_rows_lose_nothing(tmp_path):
    m, n = 8, 50_000
    path = tmp_path / "run"
    forgetmap.create_store(path, [f"t{i}" for i in range(m)], [f"e{j}" for j in range(n)])
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_rows, args=(str(path), list(range(k, m, 2)), n, 3))
        for k in (0, 1)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    store = forgetmap.open_store(path)
    assert store.missing() == []
    assert_array_equal(
        store.forgetting(), np.repeat(np.arange(m, dtype=np.float32), n).reshape(m, n)
    )
    writers = {store.summary(i)["by"] for i in range(m)}
    assert len(writers) == 2


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import forgetmap
    from forgetmap.store import _store

    stage = sys.argv[2]
    store = forgetmap.open_store(sys.argv[1])
    store.write_row(0, np.zeros(store.shape[1]))
    original = _store.atomic_write_json
    def pause_before_marker(path, document):
        if stage == "before-marker" and "rows" in str(path):
            print("paused", flush=True)
            time.sleep(60)
        original(path, document)
    _store.atomic_write_json = pause_before_marker
    if stage == "mid-chunk":
        array = store._zarr()["forgetting/nll"]
        original_set = type(array).__setitem__
        def slow_set(self, key, value):
            print("paused", flush=True)
            time.sleep(60)
        type(array).__setitem__ = slow_set
    store.write_row(1, np.ones(store.shape[1]))
    """
)


@pytest.mark.parametrize("stage", ["before-marker", "mid-chunk"])
def test_sigkill_while_writing_a_row_leaves_it_missing_not_torn(tmp_path, stage):
    path = tmp_path / "run"
    forgetmap.create_store(path, ["t0", "t1", "t2"], [f"e{j}" for j in range(1000)])
    # Row 1 was finished earlier with other values: rewriting it must un-finish it first.
    forgetmap.open_store(path).write_row(1, np.full(1000, 7.0))
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path), stage], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "paused"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    store = forgetmap.open_store(path)
    assert store.finished() == ["t0"]
    matrix = store.forgetting()
    assert_array_equal(matrix[0], np.zeros(1000))
    assert np.isnan(matrix[1:]).all()
    # Resuming rewrites the row whole.
    store.write_row(1, np.ones(1000))
    assert store.finished() == ["t0", "t1"]


def test_sigkill_at_random_moments_never_tears_a_row(tmp_path):
    m, n = 6, 200_000
    path = tmp_path / "run"
    forgetmap.create_store(path, [f"t{i}" for i in range(m)], [f"e{j}" for j in range(n)])
    script = (
        "import sys, numpy as np, forgetmap\n"
        "s = forgetmap.open_store(sys.argv[1])\n"
        "print('ready', flush=True)\n"
        "for i in range(6):\n"
        "    s.write_row(i, np.full(s.shape[1], i + 1.0, dtype=np.float32))\n"
    )
    rng = np.random.default_rng(0)
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE)
        child.stdout.readline()
        time.sleep(float(rng.uniform(0.0, 0.3)))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        store = forgetmap.open_store(path)
        matrix = store.forgetting()
        for i in range(m):
            expected = np.full(n, i + 1.0) if store.is_finished(i) else np.full(n, np.nan)
            assert_array_equal(matrix[i], expected)
    leftovers = [name for name in os.listdir(path / "rows") if not name.endswith(".json")]
    assert all(name.startswith(".") for name in leftovers)
    assert json.loads((path / "forgetmap.json").read_text())["n_tasks"] == m


def test_written_files_get_ordinary_permissions(tmp_path):
    store = _new_store(tmp_path / "run")
    store.write_row("t0", np.zeros(6))
    umask = os.umask(0)
    os.umask(umask)
    for path in [tmp_path / "run" / "forgetmap.json", tmp_path / "run" / "rows" / "000000.json"]:
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o777 & ~umask
