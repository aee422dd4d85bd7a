"""The command line: help, info (human and JSON), synth, and error mapping."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

COMMANDS = ["import", "export", "info", "synth"]


def test_help_lists_every_command_with_a_one_line_summary(cli):
    result = cli("--help")
    assert result.code == 0
    for command in COMMANDS:
        line = next(line for line in result.out.splitlines() if line.strip().startswith(command))
        assert not line.rstrip().endswith("...")


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(cli, command):
    result = cli(command, "--help")
    assert result.code == 0 and "Usage:" in result.out


def test_synth_import_info(tmp_path, cli):
    assert cli("synth", tmp_path / "g.npy", "--tasks", 6, "--examples", 50).code == 0
    assert cli("import", tmp_path / "g.npy", "--out", tmp_path / "run").code == 0
    human = cli("info", tmp_path / "run")
    assert human.code == 0 and "6 × 50" in human.out and "g0" in human.out
    document = json.loads(cli("--format", "json", "info", tmp_path / "run").out)
    values = np.load(tmp_path / "g.npy")
    assert document["shape"] == [6, 50] and document["finished"] == 6
    assert document["share_forgotten"] == pytest.approx(float((values > 0).mean()))
    assert document["mean"] == pytest.approx(float(values.mean()), rel=1e-6)
    assert set(document["groups"]) == {"g0", "g1", "g2"}


def test_info_on_a_partial_store_lists_missing_rows(tmp_path, cli):
    import forgetmap

    store = forgetmap.create_store(tmp_path / "run", ["a", "b", "c"], ["x", "y"])
    store.write_row("b", np.array([1.0, -1.0]))
    document = json.loads(cli("--format", "json", "info", tmp_path / "run").out)
    assert document["finished"] == 1 and document["missing_tasks"] == ["a", "c"]
    assert document["share_forgotten"] == 0.5


def test_usage_errors_are_one_line_with_exit_2(cli):
    result = cli("import")
    assert result.code == 2 and result.err.count("\n") == 1


def test_console_script_runs(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "forgetmap", "--version"], capture_output=True, text=True
    )
    assert completed.returncode == 0 and completed.stdout.startswith("forgetmap ")
