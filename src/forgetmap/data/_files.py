"""Folders of text or code files (a user's own data, or Python's standard library) as plain-text
examples.

Each file is cut at line boundaries into chunks by :func:`~forgetmap.data.chunk_text`, the same
cutter as the pydoc corpus, so code and prose from files compare with the other plain-text
sources. Which files are read is decided by pathlib-style globs matched against each file's path
relative to the root; the walk is sorted, so the same files always give the same examples in the
same order.
"""

from __future__ import annotations

import os
import re
import sysconfig
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from forgetmap.config import FilesSource
from forgetmap.data._corpora import chunk_text
from forgetmap.data._example import Example
from forgetmap.errors import DataSourceError

STDLIB = "stdlib"  # the root value that names the running Python's standard library
# Folders of the standard library's own folder that hold installed packages, not the library:
# left out of a walk of the stdlib's top level (an include that names them still reads them).
_STDLIB_LEFT_OUT = frozenset({"site-packages", "dist-packages"})
_SNIFF_BYTES = 8192  # a NUL byte this early marks a binary file
_MAGIC = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class FilesRead:
    """What :func:`read_files` read: the examples, and the files it had to skip.

    Parameters
    ----------
    examples : tuple of Example
        The chunks, file by file (sorted by path), in file order.
    skipped : tuple of (path, reason) pairs
        Files (or folders) left out, by path relative to the root; reason is ``"binary"``, ``"not
        UTF-8"``, ``"unreadable"`` or ``"unreadable folder"``. Kept so that a caller can say why
        a source holds fewer examples than its files suggest.
    """

    examples: tuple[Example, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def note(self) -> str:
        """One line about the skipped files, e.g. ``"skipped 3 binary or unreadable files (2
        binary, 1 unreadable)"``; empty when nothing was skipped."""
        if not self.skipped:
            return ""
        plural = "s" * (len(self.skipped) != 1)
        return (
            f"skipped {len(self.skipped)} binary or unreadable file{plural} "
            f"({_breakdown(self.skipped)})"
        )


def _breakdown(skipped: Sequence[tuple[str, str]]) -> str:
    """``"2 binary, 1 unreadable"``: how many were skipped for each reason."""
    counts = Counter(reason for _, reason in skipped)
    return ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))


def stdlib_root() -> Path:
    """The running Python's standard library folder (``sysconfig.get_paths()["stdlib"]``)."""
    return Path(sysconfig.get_paths()["stdlib"])


def read_files_source(source: FilesSource, base_dir: str | os.PathLike[str] = ".") -> FilesRead:
    """Read a ``kind = "files"`` source: its root resolved against ``base_dir`` (the config's
    folder), or the standard library for ``root = "stdlib"`` (labelled ``stdlib``, its
    site-packages left out)."""
    if source.root == STDLIB:
        root, label, left_out = stdlib_root(), STDLIB, _STDLIB_LEFT_OUT
    else:
        root, label, left_out = Path(base_dir) / source.root, None, frozenset()
    return _read(
        root, source.include, source.exclude, source.chunk_chars, source.min_chars, label, left_out
    )


def read_files(
    root: str | os.PathLike[str],
    *,
    include: Sequence[str] = ("**/*",),
    exclude: Sequence[str] = (),
    chunk_chars: int = 1000,
    min_chars: int | None = None,
    label: str | None = None,
) -> FilesRead:
    """Plain-text chunks of the files under ``root`` that ``include`` matches and ``exclude``
    does not.

    Globs are matched against each file's path relative to ``root``, pathlib-style: ``**`` as a
    whole path segment matches zero or more folders, ``*`` any characters within one segment,
    ``?`` one character, ``[abc]`` / ``[!abc]`` one of (not one of) a set. So ``"*.py"`` is
    root's own files only and ``"json/**/*.py"`` every Python file below ``json/``. Hidden
    files and folders (a name starting with ``.``) and ``__pycache__`` folders are never read,
    and symlinked folders are not followed, so a root is read the same wherever it lives.

    Each file's text (UTF-8, a byte-order mark dropped) is cut into chunks of about
    ``chunk_chars`` characters at line breaks by :func:`~forgetmap.data.chunk_text`; chunks
    shorter than ``min_chars`` (default: a quarter of ``chunk_chars``, as for pydoc), usually a
    file's last lines, are dropped so that examples are comparable pieces of text.

    Ids are ``"<path>:<offset>"``: the file's path relative to ``root`` (``/``-separated) and
    the character offset in its text where the chunk's first line starts, so an id stays put
    when other files are added, and tells where to look. ``text[offset:]`` starts with the
    whole chunk when the file's lines end in ``\\n`` and none is longer than ``chunk_chars``
    (chunks join their lines with ``\\n`` and break longer lines at spaces). Sources are
    ``"<label>/<top>"``, with ``top`` the file's top-level folder, or its stem for a file
    directly in root (``stdlib/json`` for ``json/decoder.py``, ``stdlib/textwrap`` for
    ``textwrap.py``), so per-group analyses see one group per package or module; ``label``
    defaults to the root folder's name.

    Binary files (a NUL byte in the first 8 KiB), files that are not UTF-8 and unreadable files
    are skipped and listed in :attr:`FilesRead.skipped`, since one stray file should not stop a
    run over a large folder.

    Raises
    ------
    DataSourceError
        When ``root`` is missing or not a folder, a glob is malformed, an include glob matches
        no file, exclude leaves no file, or every matched file was skipped.
    """
    return _read(root, include, exclude, chunk_chars, min_chars, label, frozenset())


def _read(
    root: str | os.PathLike[str],
    include: Sequence[str],
    exclude: Sequence[str],
    chunk_chars: int,
    min_chars: int | None,
    label: str | None,
    left_out: frozenset[str],
) -> FilesRead:
    """:func:`read_files`, leaving out the folders ``left_out`` at the root's top level."""
    path = Path(root)
    where = f"files source {str(path)!r}"
    if not path.exists():
        raise DataSourceError(
            f"files source root {str(path)!r} does not exist "
            "(relative roots are read from the config's folder)"
        )
    if not path.is_dir():
        raise DataSourceError(
            f"files source root {str(path)!r} is a file, not a folder; "
            "set root to its folder and include the file's name"
        )
    try:
        os.scandir(path).close()
    except OSError as error:
        raise DataSourceError(f"{where}: the root cannot be read ({error.strerror})") from None
    if min_chars is None:
        min_chars = chunk_chars // 4
    label = label or path.resolve().name or str(path)
    folder_errors: dict[str, str] = {}
    listings: dict[tuple[str, ...], list[PurePosixPath]] = {}
    matched: set[PurePosixPath] = set()
    for pattern in include:
        regex = _glob_regex(pattern, where)
        prefix = _literal_prefix(pattern)
        if prefix not in listings:
            listings[prefix] = _walk(path, prefix, left_out, folder_errors)
        found = {file for file in listings[prefix] if regex.fullmatch(file.as_posix())}
        if not found:
            hint = f"; {len(folder_errors)} folder(s) could not be read" if folder_errors else ""
            raise DataSourceError(
                f"{where}: include glob {pattern!r} matches no file (hidden files and "
                f"__pycache__ are never read){hint}"
            )
        matched |= found
    excluders = [_glob_regex(pattern, where) for pattern in exclude]
    files = sorted(
        (file for file in matched if not any(r.fullmatch(file.as_posix()) for r in excluders)),
        key=lambda file: file.parts,
    )
    if not files:
        raise DataSourceError(
            f"{where}: exclude leaves none of the {len(matched)} files that include matched"
        )

    examples: list[Example] = []
    unread: list[tuple[str, str]] = []
    for file in files:
        text, reason = _read_text(path / file)
        if text is None:
            unread.append((file.as_posix(), reason))
            continue
        top = file.parts[0] if len(file.parts) > 1 else file.stem
        for offset, chunk in _chunks_at(text, chunk_chars):
            if len(chunk) >= min_chars:
                examples.append(
                    Example(id=f"{file.as_posix()}:{offset}", text=chunk, source=f"{label}/{top}")
                )
    if len(unread) == len(files):
        raise DataSourceError(
            f"{where}: all {len(files)} matched files were skipped ({_breakdown(unread)}); "
            "include text files only"
        )
    return FilesRead(examples=tuple(examples), skipped=(*sorted(folder_errors.items()), *unread))


# ---------------------------------------------------------------------- walking and matching
def _walk(
    root: Path, prefix: tuple[str, ...], left_out: frozenset[str], errors: dict[str, str]
) -> list[PurePosixPath]:
    """Every readable-looking file below ``root / prefix``, as paths relative to ``root``.

    Applies the walk's rules (no hidden names, no ``__pycache__``, no symlinked folders, no
    ``left_out`` folders at root's top level) to the prefix's own folders too, so that a glob
    with a literal prefix finds exactly what a walk of the whole root would.
    """
    start = root
    for name in prefix:
        start = start / name
        if _hidden(name) or start.is_symlink() or not start.is_dir():
            return []

    def record(error: OSError) -> None:
        name = Path(error.filename).relative_to(root).as_posix() if error.filename else "?"
        errors[name] = "unreadable folder"

    files: list[PurePosixPath] = []
    for folder, dirnames, filenames in os.walk(start, onerror=record, followlinks=False):
        relative = PurePosixPath(Path(folder).relative_to(root).as_posix())
        top = relative == PurePosixPath(".")
        dirnames[:] = sorted(
            name for name in dirnames if not _hidden(name) and not (top and name in left_out)
        )
        files.extend(relative / name for name in sorted(filenames) if not name.startswith("."))
    return files


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__"


def _literal_prefix(pattern: str) -> tuple[str, ...]:
    """The folders a glob names literally before its first wildcard (never the file name), so
    that ``"json/*.py"`` walks ``json/`` only, not the whole standard library."""
    segments = _segments(pattern)
    prefix: list[str] = []
    for segment in segments[:-1]:
        if _MAGIC.search(segment):
            break
        prefix.append(segment)
    return tuple(prefix)


def _segments(pattern: str) -> list[str]:
    return [segment for segment in pattern.split("/") if segment not in ("", ".")]


def _glob_regex(pattern: str, where: str) -> re.Pattern[str]:
    """A regex matching relative POSIX paths as ``PurePosixPath(path).full_match(pattern)``
    does on Python 3.13 (``**`` spans folders, other wildcards stay within one segment)."""
    segments = _segments(pattern)
    if not segments:
        raise DataSourceError(f"{where}: glob {pattern!r} is empty; write e.g. '**/*.py'")
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            # zero or more whole folders; as the last segment, any file at any depth below
            parts.append(r"[^/]+(?:/[^/]+)*" if last else r"(?:[^/]+/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    try:
        return re.compile("".join(parts))
    except re.error as error:
        raise DataSourceError(f"{where}: glob {pattern!r} is malformed ({error})") from None


def _segment_regex(segment: str) -> str:
    """One path segment's wildcards as a regex that never crosses a ``/`` (fnmatch's rules)."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        char = segment[i]
        i += 1
        if char == "*":
            out.append(r"[^/]*")
        elif char == "?":
            out.append(r"[^/]")
        elif char == "[":
            j = i
            if j < n and segment[j] == "!":
                j += 1
            if j < n and segment[j] == "]":
                j += 1
            while j < n and segment[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(char))  # no closing bracket: a literal "["
                continue
            body, i = segment[i:j], j + 1
            negated = body.startswith("!")
            body = "".join(c if c == "-" else re.escape(c) for c in body.removeprefix("!"))
            out.append(f"(?!/)[^{body}]" if negated else f"[{body}]")
        else:
            out.append(re.escape(char))
    return "".join(out)


# ---------------------------------------------------------------------- reading and chunking
def _read_text(path: Path) -> tuple[str | None, str]:
    """The file's text, or ``None`` and why it is skipped."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, "unreadable"
    if b"\0" in data[:_SNIFF_BYTES]:
        return None, "binary"
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError:
        return None, "not UTF-8"


def _chunks_at(text: str, chunk_chars: int) -> list[tuple[int, str]]:
    """``chunk_text``'s chunks of ``text``, each with the offset where its first line starts.

    ``chunk_text`` strips chunks and may join a long line's pieces with line breaks, so a chunk
    is not always a slice of the text; but each of its lines is, in order. Finding them one by
    one from the previous line's end lands on the right occurrence: between two consecutive
    lines the text holds only line breaks or whitespace, which a found line cannot start with
    (a chunk's first line is stripped, later lines hold no line break).
    """
    located: list[tuple[int, str]] = []
    cursor = 0
    for chunk in chunk_text(text, chunk_chars):
        start = -1
        for line in chunk.split("\n"):
            at = text.find(line, cursor)
            if at < 0:  # pragma: no cover - chunk_text keeps every line's characters
                raise AssertionError(f"chunk line {line[:40]!r} not found after {cursor}")
            if start < 0:
                start = at
            cursor = at + len(line)
        located.append((start, chunk))
    return located
