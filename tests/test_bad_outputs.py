"""Bad output paths and refused requests: one line, exit code 2, and nothing written or changed.

Every path a command writes is checked before the work starts; a failed command leaves the store
and the folders around it as they were (compared byte for byte, with modification times).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import forgetmap
from forgetmap.io import import_matrix, write_matrix
from forgetmap.synthetic import planted_matrix


@pytest.fixture
def run(tmp_path):
    """A 6 × 20 imported store with an ``analysis`` and an ``evaluate`` artifact to guard."""
    source = tmp_path / "m.csv"
    write_matrix(planted_matrix(6, 20, n_groups=2, seed=1), source)
    store = import_matrix(source, tmp_path / "run")
    store.save_json("analysis", {"fits": {}, "kept": "analysis"})
    store.save_json("evaluate", {"methods": {"mean": {}}, "kept": "evaluate"})
    return tmp_path / "run"


def _snapshot(root: Path) -> dict[str, tuple[bytes, int] | None]:
    """Every file and folder under ``root``: bytes and mtime of files, None for folders."""
    return {
        str(path.relative_to(root)): (
            (path.read_bytes(), path.stat().st_mtime_ns) if path.is_file() else None
        )
        for path in sorted(root.rglob("*"))
    }


def _refused(result, *words: str) -> None:
    assert result.code == 2, (result.code, result.err)
    assert result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
    for word in words:
        assert word in result.err, result.err


@contextlib.contextmanager
def _unwritable(folder: Path):
    """Make ``folder`` immutable (root ignores chmod); skip where chattr cannot."""
    folder.mkdir(exist_ok=True)
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not available")
    done = subprocess.run([chattr, "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i failed: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run([chattr, "-i", str(folder)], capture_output=True)


# ---------------------------------------------------------------------- unwritable --out
def test_import_into_an_unwritable_folder(cli, tmp_path, run):
    with _unwritable(tmp_path / "locked") as locked:
        before = _snapshot(tmp_path)
        result = cli("import", tmp_path / "m.csv", "--out", locked / "new")
        _refused(result, "--out", repr(str(locked / "new")), "not writable")
        assert _snapshot(tmp_path) == before


def test_export_into_an_unwritable_folder(cli, tmp_path, run):
    with _unwritable(tmp_path / "locked") as locked:
        before = _snapshot(tmp_path)
        result = cli("export", run, "--out", locked / "m.npy")
        _refused(result, "--out", repr(str(locked / "m.npy")), "not writable")
        assert _snapshot(tmp_path) == before


def test_report_into_an_unwritable_folder(cli, tmp_path, run):
    with _unwritable(tmp_path / "locked") as locked:
        before = _snapshot(tmp_path)
        result = cli("report", run, "--out", locked / "r.html")
        _refused(result, "--out", repr(str(locked / "r.html")), "not writable")
        assert _snapshot(tmp_path) == before


# ---------------------------------------------------------------------- a directory as file
def test_export_to_a_directory(cli, tmp_path, run):
    (tmp_path / "m2.csv").mkdir()
    (tmp_path / "m3.npy.meta").mkdir()  # the .meta written beside an .npy
    before = _snapshot(tmp_path)
    _refused(cli("export", run, "--out", tmp_path / "m2.csv"), "is a directory", "m2.csv")
    _refused(cli("export", run, "--out", tmp_path / "m3.npy"), "is a directory", "m3.npy.meta")
    assert _snapshot(tmp_path) == before


def test_analyze_json_to_a_directory_leaves_the_store_alone(cli, tmp_path, run):
    (tmp_path / "a.json").mkdir()
    before = _snapshot(tmp_path)
    result = cli("analyze", run, "--json", tmp_path / "a.json")
    _refused(result, "--json", repr(str(tmp_path / "a.json")), "is a directory")
    assert _snapshot(tmp_path) == before  # the stored analysis was not rewritten


def test_evaluate_json_to_a_directory_leaves_the_store_alone(cli, tmp_path, run):
    (tmp_path / "e.json").mkdir()
    before = _snapshot(tmp_path)
    result = cli("evaluate", run, "--k", 5, "--seeds", 1, "--json", tmp_path / "e.json")
    _refused(result, "--json", repr(str(tmp_path / "e.json")), "is a directory")
    assert _snapshot(tmp_path) == before  # the stored evaluation was not rewritten


# ---------------------------------------------------------------------- refused requests
def test_import_metric_must_be_a_plain_name(cli, tmp_path, run):
    before = _snapshot(tmp_path)
    out = tmp_path / "a" / "b" / "new"
    result = cli("import", tmp_path / "m.csv", "--out", out, "--metric", "../../x")
    _refused(result, "metric name '../../x'", "plain name")
    assert _snapshot(tmp_path) == before  # nothing escaped upwards, no temporary folder


def test_evaluate_logistic_method_on_an_nll_store(cli, tmp_path, run):
    before = _snapshot(tmp_path)
    result = cli("evaluate", run, "--methods", "logistic_lowrank", "--k", 5, "--seeds", 1)
    _refused(result, "'logistic_lowrank'", "binary", "exact_match")
    assert _snapshot(tmp_path) == before  # no empty evaluation replaced the stored one
    assert forgetmap.open_store(run).load_json("evaluate")["kept"] == "evaluate"


def test_report_leaves_an_empty_task_out(cli, tmp_path):
    values = planted_matrix(6, 20, seed=2).values
    values[3] = np.nan  # a task with no measured entry
    source = tmp_path / "m.npy"
    np.save(source, values)
    cli("import", source, "--out", tmp_path / "run")
    before = _snapshot(tmp_path / "run")
    result = cli("report", tmp_path / "run", "--out", tmp_path / "r.html")
    assert result.code == 0, result.err
    assert "--rank" not in result.err and (tmp_path / "r.html").stat().st_size > 0
    assert _snapshot(tmp_path / "run") == before  # the report writes nothing into the store


def test_a_text_file_named_npy(cli, tmp_path):
    (tmp_path / "x.npy").write_text("task,a\nt,1\n")
    before = _snapshot(tmp_path)
    result = cli("import", tmp_path / "x.npy", "--out", tmp_path / "run")
    _refused(result, "x.npy", "not a .npy file")
    assert "unpickling" not in result.err
    assert _snapshot(tmp_path) == before


def test_unknown_chatterbot_category_names_the_task(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = tmp_path / "exp.toml"
    config.write_text(
        '[model]\nid = "tiny-random"\n[upstream]\nn = 4\n'
        'sources = [{ kind = "chatterbot", language = "english", categories = ["food"] }]\n'
        '[[tasks]]\nid = "german"\nsource = { kind = "chatterbot", language = "german", n = 4 }\n'
        '[[tasks]]\nid = "snacks"\n'
        'source = { kind = "chatterbot", language = "english", categories = ["snack"] }\n'
        "[training]\nsteps = 1\n"
    )
    before = _snapshot(tmp_path)
    result = cli("collect", config, "--out", tmp_path / "out")
    _refused(result, "tasks[1] ('snacks'", "no category 'snack'")
    assert _snapshot(tmp_path) == before


def test_forecast_checks_its_out_before_any_model(cli, tmp_path, run):
    """A bad --out is refused before the checkpoint is looked at (it does not even exist)."""
    (tmp_path / "f.csv").mkdir()
    args = ("forecast", run, "--checkpoint", tmp_path / "no-checkpoint", "--out")
    with _unwritable(tmp_path / "locked") as locked:
        before = _snapshot(tmp_path)
        directory = cli(*args, tmp_path / "f.csv")
        _refused(directory, "--out", repr(str(tmp_path / "f.csv")), "is a directory")
        _refused(cli(*args, locked / "f.csv"), "--out", "not writable")
        assert _snapshot(tmp_path) == before
    assert "no checkpoint" not in directory.err


def test_synth_rank_above_the_matrix(cli, tmp_path):
    result = cli("synth", tmp_path / "s.csv", "--tasks", 3, "--examples", 5, "--rank", 10)
    _refused(result, "--rank", "10", "min(tasks, examples) = 3")
    assert list(tmp_path.iterdir()) == []
    small = cli("synth", tmp_path / "s.csv", "--tasks", 2, "--examples", 5)  # default rank fits
    assert small.code == 0, small.err


def test_analyze_more_clusters_than_tasks(cli, tmp_path, run):
    before = _snapshot(tmp_path)
    result = cli("analyze", run, "--clusters", 100)
    _refused(result, "100 co-clusters", "6 task(s)", "2 to 6")
    assert _snapshot(tmp_path) == before
    document = json.loads(cli("--format", "json", "analyze", run, "--clusters", 6).out)
    assert document["settings"]["n_clusters"] == 6


def test_a_write_error_is_one_line_and_leaves_the_store(cli, tmp_path, run, monkeypatch):
    """An OSError while writing (here a full disk) is one line; the store keeps its evaluation."""
    import errno

    import forgetmap.store

    def full(path, document):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(forgetmap.store, "atomic_write_json", full)
    before = _snapshot(tmp_path)
    result = cli("evaluate", run, "--k", 5, "--seeds", 1, "--json", tmp_path / "e.json")
    _refused(result, "cannot write --json", repr(str(tmp_path / "e.json")), "No space left")
    assert _snapshot(tmp_path) == before


def test_a_full_disk_in_the_middle_of_a_job_is_one_line(tmp_path, monkeypatch, capsys):
    """A write that fails deep inside a long job (a row of collect, a replay run) for want of
    space is one line and exit 2; an OSError that is not the machine's stays a traceback."""
    import errno

    from forgetmap.cli import _app

    def job(error: OSError):
        def run(**kwargs):
            raise error

        return run

    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "c" / "0"))
    monkeypatch.setattr(_app, "app", job(full))
    assert _app.main(["collect"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device writing" in err and "c/0" in err
    monkeypatch.setattr(_app, "app", job(OSError(errno.EBADF, "Bad file descriptor")))
    with pytest.raises(OSError, match="Bad file descriptor"):
        _app.main(["collect"])
