"""JSON Lines files: one example per line (see :mod:`forgetmap.data._records` for the shapes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from forgetmap.data._example import Example
from forgetmap.data._records import record_to_example
from forgetmap.errors import DataFormatError, InputFileNotFoundError


def read_jsonl(path: str | os.PathLike[str], *, source: str | None = None) -> list[Example]:
    """Read every example of a JSONL file, in file order.

    Blank lines are skipped. Errors name ``file:line``: a line that is not JSON, a record
    without a needed field, an empty response, or an id already used on an earlier line.
    ``source`` labels the examples (default: the file name without extension).
    """
    path = Path(path)
    label = source if source is not None else path.stem
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise InputFileNotFoundError(f"data file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise InputFileNotFoundError(f"data file {str(path)!r} is a directory") from None
    examples: list[Example] = []
    first_line: dict[str, int] = {}
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataFormatError(f"{where}: not valid JSON ({error.msg})") from None
                example = record_to_example(record, where=where, source=label)
                if example.id in first_line:
                    raise DataFormatError(
                        f"{where}: duplicate id {example.id!r} (first on line "
                        f"{first_line[example.id]})"
                    )
                first_line[example.id] = number
                examples.append(example)
        except UnicodeDecodeError:
            raise DataFormatError(f"{str(path)!r} is not UTF-8 text") from None
    return examples
