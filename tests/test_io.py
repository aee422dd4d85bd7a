"""Import and export: bit-exact round trips of every format, and refusals of bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

import forgetmap
from forgetmap.io import export_store, import_matrix, read_matrix
from forgetmap.synthetic import planted_matrix


def _matrix(dtype="float32"):
    values = planted_matrix(5, 7, n_groups=2, missing=0.2, dtype=dtype, seed=3).values
    values[0, 0] = np.nan
    values[1, 2] = -0.0
    values[2, 3] = np.finfo(dtype).tiny
    return values


def _same(a, b):
    assert a.dtype == b.dtype
    assert_array_equal(a.view(np.uint8), b.view(np.uint8))  # bit-exact, NaN and -0.0 included


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
def test_round_trip_is_bit_exact(tmp_path, dtype, suffix):
    values = _matrix(dtype)
    np.save(tmp_path / "m.npy", values)
    store = import_matrix(tmp_path / "m.npy", tmp_path / "a")
    export_store(store, tmp_path / f"out{suffix}")
    again = import_matrix(tmp_path / f"out{suffix}", tmp_path / "b")
    _same(again.forgetting(), values)
    assert again.task_ids == store.task_ids and again.example_ids == store.example_ids
    export_store(again, tmp_path / f"out2{suffix}")
    _same(read_matrix(tmp_path / f"out2{suffix}").values, values)


def test_csv_round_trip_is_exact_through_doubles(tmp_path):
    values = _matrix("float64")
    ids = [f"ex,{j}" for j in range(values.shape[1])]  # a comma inside an id must survive
    frame = pd.DataFrame(values, index=[f"t{i}" for i in range(5)], columns=ids)
    frame.index.name = "task"
    frame.to_csv(tmp_path / "m.csv", float_format="%.17g", na_rep="")
    store = import_matrix(tmp_path / "m.csv", tmp_path / "a")
    assert store.example_ids[0] == "ex,0"
    export_store(store, tmp_path / "out.csv")
    again = import_matrix(tmp_path / "out.csv", tmp_path / "b")
    _same(again.forgetting(), values)
    # float32 stores export values that read back to the same numbers.
    np.save(tmp_path / "f.npy", _matrix("float32"))
    export_store(import_matrix(tmp_path / "f.npy", tmp_path / "c"), tmp_path / "f.csv")
    assert_array_equal(read_matrix(tmp_path / "f.csv").values, _matrix("float32").astype(float))


def test_meta_gives_task_ids_and_groups_and_is_exported(tmp_path):
    np.save(tmp_path / "m.npy", np.arange(12, dtype=np.float64).reshape(4, 3))
    meta = {
        "flan": {"start": 0, "stop": 3, "tasks": ["a", "b", "c"]},
        "tulu": {"start": 3, "stop": 4, "tasks": ["d"]},
    }
    (tmp_path / "m.npy.meta").write_text(json.dumps(meta))
    store = import_matrix(tmp_path / "m.npy", tmp_path / "run")
    assert store.task_ids == ("a", "b", "c", "d")
    assert store.groups() == {"flan": ["a", "b", "c"], "tulu": ["d"]}
    export_store(store, tmp_path / "out.npy")
    assert json.loads((tmp_path / "out.npy.meta").read_text()) == meta


def test_reimporting_the_same_matrix_is_a_no_op(tmp_path, cli):
    np.save(tmp_path / "m.npy", _matrix())
    assert cli("import", tmp_path / "m.npy", "--out", tmp_path / "run").code == 0
    assert cli("import", tmp_path / "m.npy", "--out", tmp_path / "run").code == 0
    np.save(tmp_path / "m.npy", _matrix() + 1)
    result = cli("import", tmp_path / "m.npy", "--out", tmp_path / "run")
    assert result.code == 2 and "different store" in result.err
    _same(forgetmap.open_store(tmp_path / "run").forgetting(), _matrix())


def _bad_inputs(tmp_path):
    """(file name, writer, expected message) for every kind of bad input."""
    cases = {}

    def npy(name, array, meta=None):
        def write():
            np.save(tmp_path / name, array, allow_pickle=True)
            if meta is not None:
                (tmp_path / f"{name}.meta").write_text(json.dumps(meta))

        return write

    def text(name, content):
        return lambda: (tmp_path / name).write_text(content)

    def parquet(name, frame):
        return lambda: frame.to_parquet(tmp_path / name)

    cases["missing"] = ("absent.npy", lambda: None, "does not exist")
    cases["extension"] = ("m.txt", text("m.txt", "1,2"), "unknown format")
    cases["object"] = ("o.npy", npy("o.npy", np.array([[1, "a"]], dtype=object)), "object array")
    cases["0d"] = ("z.npy", npy("z.npy", np.float64(1.0)), "0-D")
    cases["1d"] = ("one.npy", npy("one.npy", np.zeros(3)), "1-D")
    cases["3d"] = ("three.npy", npy("three.npy", np.zeros((2, 2, 2))), "3-D")
    gap = {
        "a": {"start": 0, "stop": 1, "tasks": ["x"]},
        "b": {"start": 2, "stop": 3, "tasks": ["y"]},
    }
    cases["meta-gap"] = ("g.npy", npy("g.npy", np.zeros((3, 2)), gap), "tile")
    short = {"a": {"start": 0, "stop": 3, "tasks": ["x", "y"]}}
    cases["meta-length"] = ("l.npy", npy("l.npy", np.zeros((3, 2)), short), "lists 2 task names")
    dup = {"a": {"start": 0, "stop": 2, "tasks": ["x", "x"]}}
    cases["dup-task"] = ("d.npy", npy("d.npy", np.zeros((2, 2)), dup), "duplicate task ids")
    cases["dup-example"] = ("de.csv", text("de.csv", "task,e,e\nt,1,2\n"), "duplicate example ids")
    cases["ragged"] = ("r.csv", text("r.csv", "task,e1,e2\nt1,1,2\nt2,1\n"), "ragged")
    cases["non-numeric"] = ("n.csv", text("n.csv", "task,e1,e2\nt1,1,abc\n"), "not a number")
    cases["inf-npy"] = ("i.npy", npy("i.npy", np.array([[1.0, np.inf]])), "infinite")
    cases["inf-csv"] = ("i.csv", text("i.csv", "task,e1\nt1,-inf\n"), "infinite")
    long = pd.DataFrame({"task": ["a", "a"], "example": ["e", "e"], "forgetting": [1.0, 2.0]})
    cases["dup-pair"] = ("p.parquet", parquet("p.parquet", long), "more than once")
    cols = pd.DataFrame({"task": ["a"], "value": [1.0]})
    cases["columns"] = ("c.parquet", parquet("c.parquet", cols), "missing column")
    return cases


CASES = [
    "missing",
    "extension",
    "object",
    "0d",
    "1d",
    "3d",
    "meta-gap",
    "meta-length",
    "dup-task",
    "dup-example",
    "ragged",
    "non-numeric",
    "inf-npy",
    "inf-csv",
    "dup-pair",
    "columns",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gets_one_line_exit_2_and_writes_nothing(tmp_path, cli, case):
    name, write, message = _bad_inputs(tmp_path)[case]
    write()
    before = set(tmp_path.iterdir())
    result = cli("import", tmp_path / name, "--out", tmp_path / "run")
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert set(tmp_path.iterdir()) == before  # nothing written, not even a temporary folder


def test_output_directory_with_a_different_store_is_refused(tmp_path, cli):
    np.save(tmp_path / "a.npy", np.zeros((2, 3)))
    np.save(tmp_path / "b.npy", np.zeros((3, 3)))
    assert cli("import", tmp_path / "a.npy", "--out", tmp_path / "run").code == 0
    result = cli("import", tmp_path / "b.npy", "--out", tmp_path / "run")
    assert result.code == 2 and "already holds a different store" in result.err
    assert forgetmap.open_store(tmp_path / "run").shape == (2, 3)


def test_export_refuses_unknown_extension_and_missing_store(tmp_path, cli):
    np.save(tmp_path / "a.npy", np.zeros((2, 3)))
    cli("import", tmp_path / "a.npy", "--out", tmp_path / "run")
    result = cli("export", tmp_path / "run", "--out", tmp_path / "x.xlsx")
    assert result.code == 2 and "unknown format" in result.err
    assert not (tmp_path / "x.xlsx").exists()
    result = cli("export", tmp_path / "nothing", "--out", tmp_path / "x.npy")
    assert result.code == 2 and "does not exist" in result.err
