"""Hugging Face ``datasets``: a hub dataset by name, or a local builder ("json", "csv", ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from forgetmap.data._example import Example
from forgetmap.data._records import FIELDS, record_to_example
from forgetmap.errors import DataSourceError, InputFileNotFoundError


def read_huggingface(
    name: str,
    *,
    config: str | None = None,
    split: str = "train",
    data_files: Sequence[str | Path] | None = None,
    columns: Mapping[str, str] | None = None,
) -> list[Example]:
    """Load a dataset split and parse each row like a JSONL record.

    Parameters
    ----------
    name : str
        Hub dataset name, or a builder name ("json", "csv", "parquet") used with ``data_files``.
    config, split : str
        Dataset configuration and split.
    data_files : sequence of path, optional
        Local files for a builder.
    columns : {field: column}, optional
        Which dataset column holds each field forgetmap reads (``id``, ``text``, ``prompt``,
        ``response``, ``messages``); rows without an id get ``"<name>/<row>"``.

    A dataset that cannot be loaded (hub unreachable, unknown name, missing split) raises
    :class:`~forgetmap.errors.DataSourceError` naming it.
    """
    import datasets

    if data_files is not None:
        missing = [str(path) for path in data_files if not Path(path).exists()]
        if missing:
            raise InputFileNotFoundError(f"data file {missing[0]!r} does not exist")
    label = name if config is None else f"{name}/{config}"
    try:
        dataset = datasets.load_dataset(
            name,
            config,
            split=split,
            data_files=None if data_files is None else [str(path) for path in data_files],
        )
    except Exception as error:  # datasets raises many unrelated types for one cause: no data
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DataSourceError(
            f"cannot load dataset {label!r} (split {split!r}): {first_line}; without access to "
            "the Hugging Face hub, download it elsewhere and use a local jsonl source"
        ) from None
    rename = {field: column for field, column in (columns or {}).items()}
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(dataset):
        record = {field: row.get(rename.get(field, field)) for field in FIELDS}
        where = f"dataset {label!r} ({split}) row {index}"
        example = record_to_example(
            record, where=where, source=label, default_id=f"{label}/{index}"
        )
        if example.id in seen:
            raise DataSourceError(
                f"{where}: duplicate id {example.id!r} (first in row {seen[example.id]})"
            )
        seen[example.id] = index
        examples.append(example)
    return examples
