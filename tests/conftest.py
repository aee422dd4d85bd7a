"""Shared fixtures: run the CLI in-process and capture what it prints."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from forgetmap.cli._app import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Call ``forgetmap ARGS...`` in-process; returns exit code, stdout and stderr."""

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
