"""From a config's source specs to the examples of a run: load, then draw a seeded sample."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from forgetmap.config import (
    ChatterbotSource,
    FilesSource,
    HuggingFaceSource,
    JsonlSource,
    PydocSource,
    Source,
    TaskConfig,
    UpstreamConfig,
)
from forgetmap.data._corpora import read_chatterbot, read_pydoc
from forgetmap.data._example import Example
from forgetmap.data._files import read_files_source
from forgetmap.data._huggingface import read_huggingface
from forgetmap.data._jsonl import read_jsonl
from forgetmap.errors import DataSourceError

_UPSTREAM_STREAM, _TASK_STREAM = 0, 1


def describe_source(source: Source) -> str:
    """A short name of a source spec, for tables and messages."""
    if isinstance(source, JsonlSource):
        return f"jsonl:{source.path}"
    if isinstance(source, HuggingFaceSource):
        return f"huggingface:{source.name}" + (f"/{source.config}" if source.config else "")
    if isinstance(source, ChatterbotSource):
        categories = "+".join(source.categories) if source.categories else ""
        return f"chatterbot/{source.language}" + (f"/{categories}" if categories else "")
    if isinstance(source, FilesSource):
        # the root as written, then the globs unless they are the default (every file)
        text = f"files:{source.root.rstrip('/') or source.root}"
        if source.include != ["**/*"]:
            text += "/" + "+".join(source.include)
        return text + (f" (not {'+'.join(source.exclude)})" if source.exclude else "")
    return "pydoc" + (f"/{'+'.join(source.topics)}" if source.topics else "")


def load_source(source: Source, base_dir: str | Path = ".") -> list[Example]:
    """Every example of one source, in the source's order.

    Relative file paths are resolved against ``base_dir`` (the config file's folder). A files
    source skips binary and unreadable files; :func:`select_upstream` and :func:`select_task`
    can report how many (their ``notes``).
    """
    base = Path(base_dir)
    if isinstance(source, JsonlSource):
        path = base / source.path
        return read_jsonl(path, source=Path(source.path).stem)
    if isinstance(source, HuggingFaceSource):
        files = None if source.data_files is None else [base / f for f in source.data_files]
        return read_huggingface(
            source.name,
            config=source.config,
            split=source.split,
            data_files=files,
            columns=source.columns,
        )
    if isinstance(source, ChatterbotSource):
        return read_chatterbot(source.language, source.categories)
    if isinstance(source, PydocSource):
        return read_pydoc(source.topics, chunk_chars=source.chunk_chars)
    if isinstance(source, FilesSource):
        return list(read_files_source(source, base).examples)
    raise DataSourceError(f"unknown source {source!r}")  # pragma: no cover - config forbids it


def _load(source: Source, base_dir: str | Path, where: str) -> tuple[list[Example], str]:
    """:func:`load_source`'s examples and a one-line note on what the source left out (only a
    files source has one: the files it skipped), so the select layer can name it.

    A :class:`~forgetmap.errors.DataSourceError` of the source (unknown category, missing
    root, ...) is raised again with ``where`` (the task or upstream source) in front.
    """
    try:
        if isinstance(source, FilesSource):
            read = read_files_source(source, base_dir)
            return list(read.examples), read.note
        return load_source(source, base_dir), ""
    except DataSourceError as error:
        if str(error).startswith(where):
            raise
        raise type(error)(f"{where}: {error}") from None


def sample_examples(
    examples: Sequence[Example], n: int, seed: Sequence[int] | int
) -> list[Example]:
    """``n`` examples drawn without replacement by ``np.random.default_rng(seed)``.

    The drawn examples keep the source's order, so columns of a run read like their source.
    """
    if n > len(examples):
        raise DataSourceError(f"asks for {n} examples but the source has {len(examples)}")
    if n == len(examples):
        return list(examples)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(examples), size=n, replace=False))
    return [examples[i] for i in chosen]


def upstream_shares(upstream: UpstreamConfig) -> list[int]:
    """How many examples each upstream source gives: its own ``n``, or an even share of the
    rest of ``upstream.n`` (earlier sources get the remainder)."""
    fixed = sum(source.n for source in upstream.sources if source.n is not None)
    free = [i for i, source in enumerate(upstream.sources) if source.n is None]
    shares = [source.n or 0 for source in upstream.sources]
    if free:
        base, extra = divmod(upstream.n - fixed, len(free))
        for rank, index in enumerate(free):
            shares[index] = base + (rank < extra)
    return shares


def select_upstream(
    upstream: UpstreamConfig,
    base_dir: str | Path = ".",
    *,
    seed: int = 0,
    notes: list[str] | None = None,
) -> list[Example]:
    """The run's N upstream examples: each source's share, drawn with ``seed``, concatenated.

    Raises :class:`~forgetmap.errors.DataSourceError` when a source has fewer examples than its
    share, or when two sources yield the same example id. When ``notes`` is a list, a line is
    appended to it for each source that left something out (a files source's skipped files),
    e.g. ``"upstream.sources[0] (files:data): skipped 3 binary or unreadable files (...)"``,
    for the caller to print: loading itself prints nothing.
    """
    selected: list[Example] = []
    origin: dict[str, int] = {}
    for index, (source, share) in enumerate(
        zip(upstream.sources, upstream_shares(upstream), strict=True)
    ):
        where = f"upstream.sources[{index}] ({describe_source(source)})"
        examples, note = _load(source, base_dir, where)
        _note(notes, where, note)
        if not examples:
            raise DataSourceError(f"{where} holds no examples{_aside(note)}")
        if share > len(examples):
            raise DataSourceError(
                f"{where}: upstream.n asks for {share} examples from it but it has "
                f"{len(examples)}{_aside(note)}; lower upstream.n or add sources"
            )
        for example in sample_examples(examples, share, [seed, _UPSTREAM_STREAM, index]):
            if example.id in origin:
                raise DataSourceError(
                    f"upstream: duplicate example id {example.id!r} "
                    f"(in sources[{origin[example.id]}] and sources[{index}])"
                )
            origin[example.id] = index
            selected.append(example)
    return selected


def select_task(
    task: TaskConfig,
    base_dir: str | Path = ".",
    *,
    seed: int = 0,
    index: int = 0,
    notes: list[str] | None = None,
) -> list[Example]:
    """A task's training examples: all of its source, or ``source.n`` of them drawn with a seed
    derived from ``seed`` and the task id (so reordering tasks changes nothing).

    Raises :class:`~forgetmap.errors.DataSourceError` for an empty source or one smaller than
    ``source.n``. ``notes`` collects what the source left out, as for :func:`select_upstream`.
    """
    where = f"tasks[{index}] ({task.id!r}, {describe_source(task.source)})"
    examples, note = _load(task.source, base_dir, where)
    _note(notes, where, note)
    if not examples:
        raise DataSourceError(f"{where}: the task's source holds no examples{_aside(note)}")
    if task.source.n is None:
        return examples
    if task.source.n > len(examples):
        raise DataSourceError(
            f"{where}: source.n asks for {task.source.n} examples but it has "
            f"{len(examples)}{_aside(note)}"
        )
    return sample_examples(examples, task.source.n, [seed, _TASK_STREAM, _stable_int(task.id)])


def _note(notes: list[str] | None, where: str, note: str) -> None:
    if notes is not None and note:
        notes.append(f"{where}: {note}")


def _aside(note: str) -> str:
    """A source's note as a parenthesis in an error: skipped files may be why it is short."""
    return f" ({note})" if note else ""


def _stable_int(text: str) -> int:
    """A process-independent integer of ``text`` (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
