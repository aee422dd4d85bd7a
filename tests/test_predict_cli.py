"""``forgetmap evaluate`` end to end on a small imported store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forgetmap.io import import_matrix


@pytest.fixture
def run(tmp_path):
    from forgetmap.synthetic import planted_matrix

    matrix = planted_matrix(12, 120, seed=1)
    path = tmp_path / "m.npy"
    np.save(path, matrix.values)
    import_matrix(path, tmp_path / "run")
    return tmp_path / "run"


def test_evaluate_json(cli, run, tmp_path):
    out = tmp_path / "eval.json"
    result = cli(
        "evaluate", run, "--k", 10, "--seeds", 2, "--methods", "mean,lowrank", "--json", out
    )
    assert result.code == 0, result.err
    assert "rmse" in result.out and "mean" in result.out
    doc = json.loads(out.read_text())
    assert set(doc["methods"]) == {"mean", "lowrank"}
    assert doc["settings"]["k"] == 10 and doc["settings"]["metric"] == "nll"
    assert doc["methods"]["lowrank"]["rmse"] < doc["methods"]["mean"]["rmse"]
    saved = json.loads((run / "artifacts" / "evaluate.json").read_text())
    assert saved["methods"].keys() == doc["methods"].keys()


def test_evaluate_threads_leave_the_numbers_alone(cli, run, tmp_path):
    documents = []
    for threads in (1, 2):
        out = tmp_path / f"eval-{threads}.json"
        args = ("--k", 10, "--seeds", 2, "--methods", "lowrank,knn", "--json", out)
        result = cli("evaluate", run, *args, "--threads", threads)
        assert result.code == 0, result.err
        document = json.loads(out.read_text())
        for name in ("lowrank", "knn"):
            document["methods"][name].pop("seconds")
        documents.append(document)
    assert documents[0]["methods"] == documents[1]["methods"]


def test_evaluate_json_format(cli, run):
    result = cli("--format", "json", "evaluate", run, "--k", 5, "--seeds", 1, "--methods", "mean")
    assert result.code == 0
    assert json.loads(result.out)["methods"]["mean"]["seconds"] >= 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k", "0"], "positive integer"),
        (["--k", "120"], "fewer than"),
        (["--methods", "magic"], "unknown method"),
        (["--split", "random"], "unknown split"),
        (["--split", "group:family"], "no column"),
    ],
)
def test_evaluate_bad_input(cli, run, args, message):
    result = cli("evaluate", run, "--seeds", 1, *args)
    assert result.code == 2
    assert message in result.err and result.err.count("\n") == 1


def test_every_command_summary_fits_its_line(cli):
    result = cli("--help")
    commands = result.out.split("Commands:")[1].splitlines()
    listed = [line for line in commands if line.strip()]
    assert any(line.strip().startswith("evaluate") for line in listed)
    assert any(line.strip().startswith("finetune") for line in listed)
    for line in listed:
        assert not line.rstrip().endswith("..."), line


def test_predict_never_imports_torch():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from forgetmap.predict import evaluate; "
        "evaluate(np.random.default_rng(0).normal(size=(6, 40)), k=5, seeds=1, "
        "methods=['lowrank', 'knn']); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
