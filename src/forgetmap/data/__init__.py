"""Examples and the sources they come from: JSONL files, Hugging Face datasets, offline corpora,
folders of files."""

from forgetmap.data._corpora import (
    chatterbot_categories,
    chatterbot_languages,
    chunk_text,
    pydoc_topics,
    read_chatterbot,
    read_pydoc,
)
from forgetmap.data._example import Example
from forgetmap.data._files import FilesRead, read_files, stdlib_root
from forgetmap.data._huggingface import read_huggingface
from forgetmap.data._jsonl import read_jsonl
from forgetmap.data._records import example_to_record, record_to_example
from forgetmap.data._select import (
    describe_source,
    load_source,
    sample_examples,
    select_task,
    select_upstream,
    upstream_shares,
)

__all__ = [
    "Example",
    "FilesRead",
    "chatterbot_categories",
    "chatterbot_languages",
    "chunk_text",
    "describe_source",
    "example_to_record",
    "load_source",
    "pydoc_topics",
    "read_chatterbot",
    "read_files",
    "read_huggingface",
    "read_jsonl",
    "read_pydoc",
    "record_to_example",
    "sample_examples",
    "select_task",
    "select_upstream",
    "stdlib_root",
    "upstream_shares",
]
