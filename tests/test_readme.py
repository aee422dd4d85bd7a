"""The README and docs/ stay true: the command table lists the real subcommands, every relative
link resolves (file and anchor), and the README stays short enough to read in ten minutes."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest
import typer
from typer.testing import CliRunner

from forgetmap.cli._app import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_BYTES = 15_000

_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_INLINE_CODE = re.compile(r"`+[^`]*`+")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TABLE_COMMAND = re.compile(r"^\|\s*`forgetmap ([a-z][a-z0-9-]*)")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    kept = "".join(
        char
        for char in text
        if char in " -_" or unicodedata.category(char)[0] in ("L", "N")  # letters and digits
    )
    return kept.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 ... for repeated ones."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = _slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(path: Path) -> list[str]:
    """The link and image targets of a Markdown file, outside code."""
    targets = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        targets.extend(_LINK.findall(_INLINE_CODE.sub("", line)))
    return targets


def _table_commands() -> list[str]:
    return [
        match.group(1)
        for line in README.read_text(encoding="utf-8").splitlines()
        if (match := _TABLE_COMMAND.match(line))
    ]


def _registered_commands() -> set[str]:
    return set(typer.main.get_command(app).commands)


def test_the_readme_has_a_command_table():
    commands = _table_commands()
    assert commands, "no '| `forgetmap ...' rows in README.md"
    assert len(commands) == len(set(commands)), f"repeated rows: {commands}"


@pytest.mark.parametrize("command", _table_commands())
def test_each_command_in_the_table_is_a_real_subcommand(command):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_every_registered_subcommand_is_in_the_table():
    missing = _registered_commands() - set(_table_commands())
    assert not missing, f"README's command table lacks: {sorted(missing)}"


def test_the_table_is_one_table():
    """A blank line inside the table would end it and leave the next rows as stray text."""
    lines = README.read_text(encoding="utf-8").splitlines()
    rows = [number for number, line in enumerate(lines) if _TABLE_COMMAND.match(line)]
    assert all(lines[number].startswith("|") for number in range(rows[0], rows[-1] + 1))


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        if re.match(r"^(https?:|mailto:)", target, re.IGNORECASE):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / unquote(file_part)).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {os.path.relpath(linked, ROOT)}")
        elif anchor and linked.suffix == ".md" and unquote(anchor) not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {os.path.relpath(linked, ROOT)}")
    assert not broken, "\n".join(broken)


def test_slugs_follow_github():
    assert _slug("Measuring forgetting: `forgetmap collect`") == (
        "measuring-forgetting-forgetmap-collect"
    )
    assert (
        _slug("Gradient similarity (`--kinds gradient`)") == "gradient-similarity---kinds-gradient"
    )
    assert _slug("Reliability: errors, resume") == "reliability-errors-resume"


def test_readme_is_short_and_starts_with_make():
    data = README.read_bytes()
    assert len(data) <= MAX_README_BYTES, f"README.md is {len(data)} bytes"
    text = data.decode("utf-8")
    assert "make demo" in text and "make test" in text
