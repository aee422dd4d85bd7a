"""One output object for every command: readable tables for people, JSON for programs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


class Output:
    """Where commands print: ``"human"`` (rich tables) or ``"json"`` (one document)."""

    def __init__(self, format: str = "human") -> None:
        if format not in ("human", "json"):
            raise ValueError(f"unknown output format {format!r}")
        self.format = format
        self.console = Console(highlight=False, soft_wrap=False)
        if not self.console.is_terminal and "COLUMNS" not in os.environ:
            self.console.width = 160  # logs and pipes: wide tables stay whole
        self.stderr = Console(stderr=True, highlight=False)

    @property
    def human(self) -> bool:
        return self.format == "human"

    def result(self, document: Any, render: Callable[[Output, Any], None]) -> None:
        """Emit a command's result: ``render`` it for people, or dump it as JSON."""
        if self.human:
            render(self, document)
        else:
            json.dump(document, sys.stdout, indent=2, allow_nan=False, default=str)
            sys.stdout.write("\n")

    def message(self, text: str) -> None:
        """A line of progress or status; goes to stderr in JSON mode so stdout stays parseable."""
        (self.console if self.human else self.stderr).print(text)

    def table(
        self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Print a table (human mode)."""
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        cells = [[format_cell(cell) for cell in row] for row in rows]
        for index, column in enumerate(columns):
            # Numbers and ids are never cut short: a column is at least as wide as its widest cell.
            widest = max((len(row[index]) for row in cells), default=0)
            table.add_column(
                column,
                justify="left" if index == 0 else "right",
                min_width=min(widest, 40),
                no_wrap=index > 0,
            )
        for row in cells:
            table.add_row(*row)
        self.console.print(table)


def format_cell(value: Any) -> str:
    """A number with four significant digits, or the value as text; ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
