"""Damaged stores: every reader refuses a damaged file with one line, checksums catch silent
damage, `info --check` verifies everything, and old stores without checksums still open."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import forgetmap
from forgetmap.errors import StoreDamagedError, StoreError, StoreNotFoundError
from forgetmap.store import _store

M, N = 4, 6


def _store_at(path: Path, *, finished=(0, 1, 2)) -> forgetmap.ForgettingStore:
    """A collected-like store with scores: rows ``finished`` written, before-scores stored."""
    store = forgetmap.create_store(
        path,
        [f"t{i}" for i in range(M)],
        [f"e{j}" for j in range(N)],
        task_table={"group": ["x", "x", "y", "y"]},
        example_table={"source": ["a"] * N, "text": [f"text {j}" for j in range(N)]},
        with_scores=True,
        config={"seed": 0},
    )
    before = np.arange(N, dtype=np.float32) / 4  # exact sums: forgetting is i + 1
    store.write_before({"nll": before})
    for i in finished:
        after = before + np.float32(i + 1)
        store.write_row(i, after - before, after={"nll": after}, summary={"last_loss": 1.0 + i})
    return store


def _chunk(run: Path, kind: str, index: int) -> Path:
    return run / "matrix.zarr" / kind / "nll" / "c" / str(index) / "0"


def _one_line_exit_2(result) -> None:
    assert result.code == 2, (result.code, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("forgetmap: error:"), result.err
    assert "Traceback" not in result.err


# ---------------------------------------------------------------------- checksums recorded
def test_markers_and_manifest_record_checksums(tmp_path):
    run = tmp_path / "run"
    store = _store_at(run)
    marker = json.loads((run / "rows" / "000001.json").read_text())
    assert set(marker["checksums"]) == {"forgetting/nll", "after/nll"}
    assert marker["checksums"]["forgetting/nll"] == _store._sha256(_chunk(run, "forgetting", 1))
    before = json.loads((run / "before.json").read_text())
    assert before["checksums"]["before/nll"] == _store._sha256(
        run / "matrix.zarr" / "before" / "nll" / "c" / "0"
    )
    manifest = json.loads((run / "forgetmap.json").read_text())
    assert set(manifest["checksums"]) == {"tasks.parquet", "examples.parquet"}
    assert store.verify() == []
    assert store.damaged_rows() == {}


def test_an_all_nan_row_has_no_chunk_and_still_verifies(tmp_path):
    run = tmp_path / "run"
    store = _store_at(run, finished=())
    store.write_row(3, np.full(N, np.nan))
    assert not _chunk(run, "forgetting", 3).exists()
    assert forgetmap.open_store(run).verify() == []
    assert np.isnan(forgetmap.open_store(run).forgetting()[3]).all()


def test_imported_matrices_record_checksums(tmp_path):
    run = tmp_path / "run"
    matrix = np.arange(12, dtype=np.float32).reshape(3, 4)
    forgetmap.create_store(run, ["a", "b", "c"], list("wxyz"), forgetting=matrix, kind="imported")
    _chunk(run, "forgetting", 1).write_bytes(b"\0" * 16)  # same size, other bytes
    with pytest.raises(StoreDamagedError, match=r"c/1/0.*differs from its recorded checksum"):
        forgetmap.open_store(run).forgetting()


# ---------------------------------------------------------------------- one test per damage
def test_missing_tasks_table(tmp_path):
    run = tmp_path / "run"
    _store_at(run)
    (run / "tasks.parquet").unlink()
    with pytest.raises(StoreDamagedError, match=r"tasks\.parquet' is missing; restore the file"):
        forgetmap.open_store(run)


def test_garbled_examples_table(tmp_path):
    run = tmp_path / "run"
    _store_at(run)
    (run / "examples.parquet").write_bytes(b"PAR1 not really parquet")
    store = forgetmap.open_store(run)
    with pytest.raises(StoreDamagedError, match=r"examples\.parquet' differs from its recorded"):
        store.examples()


def test_garbled_table_of_an_old_store_is_unreadable_not_a_traceback(tmp_path):
    run = tmp_path / "run"
    _store_at(run)
    _drop_checksums(run)
    (run / "tasks.parquet").write_bytes(b"garbage")
    store = forgetmap.open_store(run)
    with pytest.raises(StoreDamagedError, match=r"tasks\.parquet' is not a readable parquet"):
        store.tasks()


def test_garbled_matrix_chunk(tmp_path):
    run = tmp_path / "run"
    _store_at(run)
    chunk = _chunk(run, "forgetting", 1)
    chunk.write_bytes(chunk.read_bytes()[::-1])  # same size: zarr alone would read garbage
    store = forgetmap.open_store(run)
    with pytest.raises(StoreDamagedError, match=r"c/1/0' \(data of row 't1'\) differs"):
        store.forgetting()
    with pytest.raises(StoreDamagedError, match="re-run `forgetmap collect`"):
        store.row("t1")
    assert_array_equal(store.row("t0"), np.ones(N, dtype=np.float32))
    assert list(store.damaged_rows()) == [1]


def test_truncated_chunk_of_an_old_store_is_refused(tmp_path):
    run = tmp_path / "run"
    _store_at(run)
    _drop_checksums(run)
    _chunk(run, "after", 2).write_bytes(b"\1\2\3")
    store = forgetmap.open_store(run)
    with pytest.raises(StoreDamagedError, match=r"c/2/0' \(a matrix chunk\) cannot be read"):
        store.after()
    assert len(store.verify()) == 1


def test_deleted_chunk_of_a_finished_row_is_refused_not_read_as_nan(tmp_path):
    run = tmp_path / "run"
    _store_at(run)
    _chunk(run, "forgetting", 2).unlink()
    store = forgetmap.open_store(run)
    assert store.finished() == ["t0", "t1", "t2"]  # the marker is still there ...
    with pytest.raises(StoreDamagedError, match=r"c/2/0' \(data of row 't2'\) is missing"):
        store.forgetting()  # ... but its data is not read as an all-NaN row
    with pytest.raises(StoreDamagedError):
        store.forgetting(finished_only=True)


def test_missing_array_metadata(tmp_path):
    run = tmp_path / "run"
    _store_at(run)
    (run / "matrix.zarr" / "forgetting" / "nll" / "zarr.json").unlink()
    store = forgetmap.open_store(run)
    with pytest.raises(StoreDamagedError, match=r"forgetting/nll/zarr\.json' \(array metadata\)"):
        store.forgetting()
    with pytest.raises(StoreDamagedError):
        store.row(0)


def test_garbled_row_marker(tmp_path):
    run = tmp_path / "run"
    _store_at(run)
    (run / "rows" / "000000.json").write_text('{"task": "t0", "ind')
    store = forgetmap.open_store(run)
    assert store.finished_mask().tolist() == [True, True, True, False]
    for read in (store.tasks, store.forgetting, lambda: store.summary("t0")):
        with pytest.raises(StoreDamagedError, match=r"000000\.json' \(the done-marker of row 't0'"):
            read()
    assert list(store.damaged_rows()) == [0]


def test_garbled_before_scores(tmp_path):
    run = tmp_path / "run"
    _store_at(run)
    chunk = run / "matrix.zarr" / "before" / "nll" / "c" / "0"
    chunk.write_bytes(bytes(len(chunk.read_bytes())))
    store = forgetmap.open_store(run)
    with pytest.raises(StoreDamagedError, match=r"before/nll/c/0' \(data of the before-scores\)"):
        store.before()
    assert store.before_damage() is not None
    (run / "before.json").write_text("{")
    assert "before.json" in forgetmap.open_store(run).before_damage()


def test_missing_or_invalid_manifest_and_rows_folder(tmp_path):
    run = tmp_path / "run"
    _store_at(run)
    (run / "forgetmap.json").write_text("[1, 2]")
    with pytest.raises(StoreError, match="not a forgetmap store manifest"):
        forgetmap.open_store(run)
    (run / "forgetmap.json").write_text(json.dumps({"format": "forgetmap-store", "version": 1}))
    with pytest.raises(StoreDamagedError, match="lacks n_tasks"):
        forgetmap.open_store(run)
    other = tmp_path / "other"
    _store_at(other)
    for path in (other / "rows").iterdir():
        path.unlink()
    (other / "rows").rmdir()
    with pytest.raises(StoreDamagedError, match=r"rows' is missing"):
        forgetmap.open_store(other)


def test_a_regular_file_is_not_a_store(tmp_path, cli):
    path = tmp_path / "file.txt"
    path.write_text("hello")
    with pytest.raises(StoreNotFoundError, match="is a file, not a run directory"):
        forgetmap.open_store(path)
    _one_line_exit_2(cli("info", path))


# ---------------------------------------------------------------------- old stores, cost
def _drop_checksums(run: Path) -> None:
    for marker in [*(run / "rows").glob("*.json"), run / "before.json"]:
        document = json.loads(marker.read_text())
        document.pop("checksums", None)
        marker.write_text(json.dumps(document))
    manifest = json.loads((run / "forgetmap.json").read_text())
    manifest.pop("checksums", None)
    (run / "forgetmap.json").write_text(json.dumps(manifest))


def test_old_stores_without_checksums_open_and_read(tmp_path, cli):
    run = tmp_path / "run"
    _store_at(run)
    expected = forgetmap.open_store(run).forgetting()
    _drop_checksums(run)
    store = forgetmap.open_store(run)
    assert_array_equal(store.forgetting(), expected)
    assert store.verify() == [] and store.damaged_rows() == {}
    result = cli("info", run, "--check")
    assert result.code == 0, result.err
    assert "integrity: OK" in result.out


def test_each_chunk_is_hashed_once_per_store_object(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _store_at(run)
    store = forgetmap.open_store(run)
    hashed: list[str] = []
    real = _store._sha256

    def counting(path):
        if "matrix.zarr" in str(path):
            hashed.append(str(path))
        return real(path)

    monkeypatch.setattr(_store, "_sha256", counting)
    store.forgetting()
    assert len(hashed) == 3  # the three finished rows
    store.forgetting()
    store.forgetting(finished_only=True)
    store.row("t1")
    assert len(hashed) == 3
    store.write_row("t1", np.zeros(N))  # a rewritten row has a new checksum: verified again
    store.forgetting()
    assert sorted(hashed).count(str(_chunk(run, "forgetting", 1))) == 3  # read, written, read


# ---------------------------------------------------------------------- the CLI
def test_info_check_reports_ok_or_the_damaged_files(tmp_path, cli):
    run = tmp_path / "run"
    _store_at(run)
    result = cli("info", run, "--check")
    assert result.code == 0, result.err
    assert "integrity: OK" in result.out
    _chunk(run, "after", 0).write_bytes(b"x" * 24)  # `info` alone reads no after-scores
    (run / "examples.parquet").write_bytes(b"broken")
    assert cli("info", run).code == 0
    result = cli("info", run, "--check")
    _one_line_exit_2(result)
    assert "2 damaged file(s)" in result.err
    assert "after/nll/c/0/0" in result.out and "examples.parquet" in result.out
    result = cli("--format", "json", "info", run, "--check")
    assert result.code == 2
    document = json.loads(result.out)
    assert document["ok"] is False and len(document["damaged"]) == 2


def test_info_and_export_refuse_a_deleted_finished_chunk(tmp_path, cli):
    run = tmp_path / "run"
    _store_at(run)
    _chunk(run, "forgetting", 0).unlink()
    for result in (cli("info", run), cli("export", run, "--out", tmp_path / "m.csv")):
        _one_line_exit_2(result)
        assert "c/0/0" in result.err and "is missing" in result.err
    assert not (tmp_path / "m.csv").exists()


def _damage(run: Path, rng: random.Random) -> str:
    files = sorted(path for path in run.rglob("*") if path.is_file())
    path = rng.choice(files)
    how = rng.choice(["truncate", "garble", "delete", "empty"])
    data = path.read_bytes()
    if how == "delete":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncate":
        path.write_bytes(data[: rng.randrange(max(1, len(data)))])
    else:
        garbled = bytearray(data or b"\0")
        for _ in range(rng.randint(1, 8)):
            garbled[rng.randrange(len(garbled))] = rng.randrange(256)
        path.write_bytes(bytes(garbled))
    return f"{how} {path.relative_to(run)}"


@pytest.mark.parametrize("seed", range(12))
def test_random_damage_is_one_line_and_exit_2_or_success_never_a_traceback(tmp_path, cli, seed):
    run = tmp_path / "run"
    _store_at(run)
    rng = random.Random(seed)
    what = _damage(run, rng)
    for args in (
        ("info", run),
        ("info", run, "--check"),
        ("export", run, "--out", tmp_path / "m.csv"),
        ("export", run, "--out", tmp_path / "m.npy"),
    ):
        result = cli(*args)
        assert result.code in (0, 2), (what, args, result.err)
        if result.code == 2:
            _one_line_exit_2(result)
    check = cli("info", run, "--check")
    if check.code == 0:  # a damage `--check` accepts must leave the finished rows intact
        store = forgetmap.open_store(run)
        mask = store.finished_mask()
        assert_array_equal(store.forgetting()[mask], _expected()[mask]), what


def _expected() -> np.ndarray:
    return np.arange(1, M + 1, dtype=np.float32)[:, None] * np.ones((1, N), np.float32)
