"""The files source: globs, chunks with offsets as ids, the stdlib root, skipped files, errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import forgetmap.data._files as files_module
from forgetmap.config import FilesSource, load_config, parse_config
from forgetmap.data import (
    FilesRead,
    chunk_text,
    describe_source,
    load_source,
    read_files,
    select_task,
    select_upstream,
    stdlib_root,
)
from forgetmap.data._files import read_files_source
from forgetmap.errors import ConfigError, DataSourceError

LINES = "".join(f"line {i:02d} of a small file, long enough to chunk\n" for i in range(12))


def _tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{relative path: content}`` below ``root``; returns ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def _paths(read: FilesRead) -> list[str]:
    """The files that gave examples, in example order, each once."""
    return list(dict.fromkeys(example.id.rsplit(":", 1)[0] for example in read.examples))


def _config(upstream: dict, task_source: dict | None = None):
    task = task_source or {"kind": "chatterbot", "language": "german"}
    return parse_config({"upstream": upstream, "tasks": [{"id": "t", "source": task}]})


@pytest.fixture
def tree(tmp_path):
    root = _tree(
        tmp_path / "proj",
        {
            "a.py": "x = 1\n",
            "b.txt": "plain words\n",
            "pkg/__init__.py": "y = 2\n",
            "pkg/data.txt": "more words\n",
            "pkg/sub/deep.py": "z = 3\n",
            "pkg/sub/test_deep.py": "assert z\n",
            ".hidden.py": "h = 0\n",
            ".git/config.py": "g = 0\n",
            "pkg/__pycache__/c.py": "c = 0\n",
        },
    )
    os.symlink(root / "pkg", root / "linked", target_is_directory=True)
    return root


# ---------------------------------------------------------------------- globs
@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (["*.py"], [], ["a.py"]),
        (["**/*.py"], [], ["a.py", "pkg/__init__.py", "pkg/sub/deep.py", "pkg/sub/test_deep.py"]),
        (["pkg/**/*.py"], [], ["pkg/__init__.py", "pkg/sub/deep.py", "pkg/sub/test_deep.py"]),
        (["pkg/*/*.py"], [], ["pkg/sub/deep.py", "pkg/sub/test_deep.py"]),
        (["**/*.py"], ["**/test_*.py"], ["a.py", "pkg/__init__.py", "pkg/sub/deep.py"]),
        (["**/*"], ["*.txt", "pkg/**"], ["a.py"]),
        (["**"], ["**/*.py"], ["b.txt", "pkg/data.txt"]),
        (["*.txt", "pkg/*.txt", "*.txt"], [], ["b.txt", "pkg/data.txt"]),
        (["?.py", "[ab].txt"], [], ["a.py", "b.txt"]),
        (["pkg/sub/[!t]*.py"], [], ["pkg/sub/deep.py"]),
    ],
)
def test_globs_pick_files_like_pathlib(tree, include, exclude, expected):
    read = read_files(tree, include=include, exclude=exclude, chunk_chars=40, min_chars=1)
    # sorted by path; hidden names, __pycache__ and the symlinked folder are never read
    assert _paths(read) == expected
    assert read.skipped == () and read.note == ""


def test_default_include_reads_every_visible_file(tree):
    read = read_files(tree, min_chars=1)
    assert _paths(read) == [
        "a.py",
        "b.txt",
        "pkg/__init__.py",
        "pkg/data.txt",
        "pkg/sub/deep.py",
        "pkg/sub/test_deep.py",
    ]


# ---------------------------------------------------------------------- chunks and ids
def test_chunks_end_at_line_breaks_and_short_ones_are_dropped(tmp_path):
    root = _tree(tmp_path / "r", {"notes.txt": LINES + "tail\n"})
    # 46-character lines: two fit in 94 characters, the 4-character "tail" is a chunk of its own
    read = read_files(root, chunk_chars=94, min_chars=5)
    chunks = [example.text for example in read.examples]
    # the same cutter as pydoc; only the short tail is dropped
    assert chunks == [c for c in chunk_text(LINES + "tail\n", 94) if len(c) >= 5]
    assert len(chunks) == 6 and all(c.count("\n") == 1 for c in chunks)
    assert chunks[-1].endswith("line 11 of a small file, long enough to chunk")
    assert all(example.kind == "text" and example.source == "r/notes" for example in read.examples)
    # the default drops chunks under a quarter of chunk_chars (23 here)
    assert [e.text for e in read_files(root, chunk_chars=94).examples] == chunks
    assert [e.text for e in read_files(root, chunk_chars=94, min_chars=1).examples][-1] == "tail"


def test_ids_are_path_and_offset_of_each_chunk(tmp_path):
    body = "def f(x):\n    return x\n\n\n" * 6 + "class A:\n    def g(self):\n        return x\n"
    root = _tree(tmp_path / "r", {"m.py": body, "pkg/n.py": LINES, "pkg/deeper/o.py": LINES})
    read = read_files(root, chunk_chars=40, min_chars=1)
    ids = [example.id for example in read.examples]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "m.py:0"
    texts = {"m.py": body, "pkg/n.py": LINES, "pkg/deeper/o.py": LINES}
    offsets: dict[str, list[int]] = {}
    for example in read.examples:
        path, offset = example.id.rsplit(":", 1)
        assert texts[path][int(offset) :].startswith(example.text), example.id
        offsets.setdefault(path, []).append(int(offset))
    # repeated lines ("return x") do not make two chunks claim one place
    assert all(a == sorted(set(a)) for a in offsets.values())
    sources = {example.id.rsplit(":", 1)[0]: example.source for example in read.examples}
    assert sources == {"m.py": "r/m", "pkg/n.py": "r/pkg", "pkg/deeper/o.py": "r/pkg"}


def test_offsets_survive_crlf_bom_and_long_lines(tmp_path):
    long = " ".join(["word"] * 40)
    text = "first\r\n" + long + "\r\n\x0cnext page\r\n" + "end line here\r\n"
    root = _tree(tmp_path / "r", {"w.txt": b"\xef\xbb\xbf" + text.encode()})
    read = read_files(root, chunk_chars=40, min_chars=1)
    assert read.examples[0].id == "w.txt:0" and read.examples[0].text.startswith("first")
    for example in read.examples:
        offset = int(example.id.rsplit(":", 1)[1])
        # the chunk's first line is always where the id says
        assert text[offset:].startswith(example.text.split("\n")[0]), example.id


def test_output_is_deterministic(tmp_path):
    files = {f"d{i % 3}/f{i}.txt": LINES * (i + 1) for i in range(9)}
    first = read_files(_tree(tmp_path / "one", files), chunk_chars=100)
    # the same files written in the reverse order (other inode and mtime order) read the same
    second = read_files(_tree(tmp_path / "two", dict(reversed(files.items()))), chunk_chars=100)
    assert [(e.id, e.text) for e in first.examples] == [(e.id, e.text) for e in second.examples]
    assert first == read_files(tmp_path / "one", chunk_chars=100)


# ---------------------------------------------------------------------- the stdlib root
def test_stdlib_root_reads_the_running_pythons_library():
    source = FilesSource(kind="files", root="stdlib", include=["json/*.py", "textwrap.py"])
    examples = load_source(source)
    ids = [example.id for example in examples]
    assert "json/decoder.py:0" in ids
    assert {e.source for e in examples} == {"stdlib/json", "stdlib/textwrap"}
    decoder = (stdlib_root() / "json" / "decoder.py").read_text(encoding="utf-8")
    for example in examples:
        path, offset = example.id.rsplit(":", 1)
        if path == "json/decoder.py":
            assert decoder[int(offset) :].startswith(example.text.split("\n")[0])
    assert describe_source(source) == "files:stdlib/json/*.py+textwrap.py"


def test_stdlib_walk_leaves_out_installed_packages(tmp_path, monkeypatch):
    fake = _tree(
        tmp_path / "lib",
        {"os.py": LINES, "site-packages/numpy/core.py": LINES, "dist-packages/x.py": LINES},
    )
    monkeypatch.setattr(files_module, "stdlib_root", lambda: fake)
    read = read_files_source(FilesSource(kind="files", root="stdlib", include=["**/*.py"]))
    assert _paths(read) == ["os.py"] and read.examples[0].source == "stdlib/os"
    # named explicitly, they are read
    named = FilesSource(kind="files", root="stdlib", include=["site-packages/**/*.py"])
    assert _paths(read_files_source(named)) == ["site-packages/numpy/core.py"]


# ---------------------------------------------------------------------- skipped files
def test_binary_and_non_utf8_files_are_skipped_and_counted(tmp_path):
    root = _tree(
        tmp_path / "r",
        {"a.txt": LINES, "b.bin": b"\x89PNG\r\n\x00\x00" + b"x" * 100, "c.txt": b"caf\xe9 " * 30},
    )
    read = read_files(root)
    assert _paths(read) == ["a.txt"]
    assert read.skipped == (("b.bin", "binary"), ("c.txt", "not UTF-8"))
    assert read.note == "skipped 2 binary or unreadable files (1 binary, 1 not UTF-8)"
    # the select layer reports it, and names it when the source is then too small
    config = _config({"n": 1, "sources": [{"kind": "files", "root": "r"}]})
    notes: list[str] = []
    select_upstream(config.upstream, tmp_path, notes=notes)
    assert notes == [f"upstream.sources[0] (files:r): {read.note}"]
    many = _config({"n": 50, "sources": [{"kind": "files", "root": "r"}]})
    with pytest.raises(DataSourceError, match=r"it has \d+ \(skipped 2 binary or unreadable"):
        select_upstream(many.upstream, tmp_path)


def test_all_files_skipped_is_an_error(tmp_path):
    root = _tree(tmp_path / "r", {"a.bin": b"\x00\x01" * 10, "b.bin": b"\xff\xfe\x00"})
    with pytest.raises(DataSourceError) as caught:
        read_files(root)
    message = str(caught.value)
    assert "all 2 matched files were skipped (2 binary)" in message and "\n" not in message


def test_a_broken_link_is_skipped_as_unreadable(tmp_path):
    root = _tree(tmp_path / "r", {"ok.txt": LINES})
    os.symlink(root / "gone.txt", root / "link.txt")
    read = read_files(root)
    assert _paths(read) == ["ok.txt"] and read.skipped == (("link.txt", "unreadable"),)


def test_unreadable_files_and_folders_are_skipped(tmp_path, monkeypatch):
    root = _tree(tmp_path / "r", {"ok.txt": LINES, "secret.txt": LINES, "locked/x.txt": LINES})
    (root / "secret.txt").chmod(0)
    (root / "locked").chmod(0)
    if os.access(root / "secret.txt", os.R_OK):  # running as root: simulate what chmod does
        read_bytes, scandir = Path.read_bytes, os.scandir

        def refuse(path):
            if Path(path).name in ("secret.txt", "locked"):
                raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(Path, "read_bytes", lambda self: refuse(self) or read_bytes(self))
        monkeypatch.setattr(os, "scandir", lambda path=".": refuse(path) or scandir(path))
    try:
        read = read_files(root)
        assert _paths(read) == ["ok.txt"]
        assert read.skipped == (("locked", "unreadable folder"), ("secret.txt", "unreadable"))
        assert read.note == (
            "skipped 2 binary or unreadable files (1 unreadable, 1 unreadable folder)"
        )
    finally:
        (root / "secret.txt").chmod(0o644)
        (root / "locked").chmod(0o755)


# ---------------------------------------------------------------------- bad input
def test_missing_root_and_root_that_is_a_file(tmp_path):
    source = FilesSource(kind="files", root="nope/data")
    with pytest.raises(DataSourceError) as caught:
        load_source(source, tmp_path)
    assert str(caught.value) == (
        f"files source root {str(tmp_path / 'nope' / 'data')!r} does not exist "
        "(relative roots are read from the config's folder)"
    )
    (tmp_path / "one.txt").write_text(LINES)
    with pytest.raises(DataSourceError, match=r"'.*one\.txt' is a file, not a folder"):
        load_source(FilesSource(kind="files", root="one.txt"), tmp_path)


def test_a_glob_matching_nothing_is_named(tree):
    with pytest.raises(DataSourceError, match=r"include glob 'pkg/\*\.rs' matches no file"):
        read_files(tree, include=["*.py", "pkg/*.rs"])
    # hidden files, __pycache__ and symlinked folders are never matched
    for pattern in (".hidden.py", ".git/*.py", "pkg/__pycache__/*.py", "linked/*.py"):
        with pytest.raises(DataSourceError, match=re.escape(repr(pattern))):
            read_files(tree, include=[pattern])
    with pytest.raises(DataSourceError, match="exclude leaves none of the 2 files"):
        read_files(tree, include=["*.txt", "*.py"], exclude=["*"])


def test_n_beyond_the_chunks_names_the_source(tmp_path):
    _tree(tmp_path / "r", {"a.txt": LINES})
    upstream = {"n": 40, "sources": [{"kind": "files", "root": "r", "include": ["*.txt"]}]}
    config = _config(upstream, {"kind": "files", "root": "r", "n": 40})
    with pytest.raises(DataSourceError, match=r"sources\[0\] \(files:r/\*\.txt\): .*asks for 40"):
        select_upstream(config.upstream, tmp_path)
    with pytest.raises(DataSourceError, match=r"tasks\[0\] \('t', files:r\): source\.n asks"):
        select_task(config.tasks[0], tmp_path)
    # two files sources over one root give the same ids: refused, as for any sources
    twice = _config(
        {"n": 2, "sources": [{"kind": "files", "root": "r"}, {"kind": "files", "root": "r"}]}
    )
    with pytest.raises(DataSourceError, match=r"duplicate example id 'a\.txt:0'"):
        select_upstream(twice.upstream, tmp_path)


def test_describe_source():
    def describe(**fields):
        return describe_source(FilesSource(kind="files", **fields))

    assert describe(root="data/") == "files:data"
    assert describe(root="stdlib", include=["json/**/*.py"]) == "files:stdlib/json/**/*.py"
    assert describe(root="d", exclude=["t/**"]) == "files:d (not t/**)"


# ---------------------------------------------------------------------- config
def test_config_round_trip_resolves_root_against_the_config_folder(tmp_path, monkeypatch):
    _tree(tmp_path / "exp" / "corpus", {"x.md": LINES, "y.md": LINES})
    path = tmp_path / "exp" / "exp.toml"
    path.write_text(
        '[upstream]\nn = 4\nsources = [{ kind = "files", root = "corpus", include = ["*.md"], '
        "chunk_chars = 200, min_chars = 10 }]\n"
        '[[tasks]]\nid = "t"\nsource = { kind = "files", root = "corpus", exclude = ["y.md"] }\n'
    )
    monkeypatch.chdir(tmp_path)  # relative roots follow the config, not the working folder
    config, base = load_config(path)
    source = config.upstream.sources[0]
    assert isinstance(source, FilesSource) and source.min_chars == 10
    assert config.tasks[0].source.include == ["**/*"] and config.tasks[0].source.min_chars is None
    assert parse_config(config.to_dict()) == config
    examples = select_upstream(config.upstream, base)
    assert len(examples) == 4 and {e.source for e in examples} == {"corpus/x", "corpus/y"}
    assert {e.source for e in select_task(config.tasks[0], base)} == {"corpus/x"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "upstream.sources[0].root: required key is missing"),
        ({"root": ""}, "upstream.sources[0].root: must not be empty"),
        ({"root": "d", "include": []}, "upstream.sources[0].include: must not be empty"),
        ({"root": "d", "include": ["/etc/*"]}, "glob '/etc/*' must stay inside root"),
        ({"root": "d", "exclude": ["../x"]}, "upstream.sources[0].exclude: glob '../x' must"),
        ({"root": "d", "include": ["/"]}, "glob '/' is empty"),
        ({"root": "d", "chunk_chars": 20}, "upstream.sources[0].chunk_chars: must be >= 40"),
        ({"root": "d", "min_chars": 0}, "upstream.sources[0].min_chars: must be >= 1"),
        ({"root": "d", "min_chars": 2000}, "min_chars = 2000 exceeds chunk_chars = 1000"),
        ({"root": "d", "glob": "*"}, "upstream.sources[0].glob: unknown key"),
    ],
)
def test_bad_files_fields_name_the_key(fields, message):
    document = {
        "upstream": {"n": 1, "sources": [{"kind": "files", **fields}]},
        "tasks": [{"id": "t", "source": {"kind": "pydoc"}}],
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(document, origin="exp.toml")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_unknown_kind_lists_files():
    document = {"upstream": {"n": 1, "sources": [{"kind": "folder"}]}, "tasks": []}
    with pytest.raises(ConfigError, match="chatterbot, files, huggingface, jsonl, pydoc"):
        parse_config(document)


# ---------------------------------------------------------------------- CLI
def test_collect_refuses_a_missing_root_before_any_model(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = tmp_path / "exp.toml"
    config.write_text(
        '[model]\nid = "tiny-random"\n[upstream]\nn = 4\n'
        'sources = [{ kind = "files", root = "no-such-folder" }]\n'
        '[[tasks]]\nid = "german"\nsource = { kind = "chatterbot", language = "german", n = 4 }\n'
        "[training]\nsteps = 1\n"
    )
    out = tmp_path / "run"
    result = cli("collect", config, "--out", out)
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert f"files source root {str(tmp_path / 'no-such-folder')!r} does not exist" in result.err
    assert not out.exists()


def test_collect_says_which_files_it_skipped(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("\n".join(f"line {i} of some notes" for i in range(40)))
    (data / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    config = tmp_path / "exp.toml"
    config.write_text(
        '[model]\nid = "tiny-random"\n[upstream]\nn = 4\n'
        'sources = [{ kind = "files", root = "data", chunk_chars = 80 }]\n'
        '[[tasks]]\nid = "german"\nsource = { kind = "chatterbot", language = "german", n = 4 }\n'
        "[training]\nsteps = 1\nbatch_size = 2\nmax_length = 16\n[scoring]\nmax_length = 16\n"
    )
    result = cli("collect", config, "--out", tmp_path / "run")
    assert result.code == 0, result.err
    note = "upstream.sources[0] (files:data): skipped 1 binary or unreadable file (1 binary)"
    assert note in result.err + result.out
