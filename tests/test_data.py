"""Data sources: JSONL, Hugging Face datasets (local files), the offline corpora, sampling."""

from __future__ import annotations

import json

import pytest

from forgetmap.config import parse_config
from forgetmap.data import (
    Example,
    chunk_text,
    read_chatterbot,
    read_huggingface,
    read_jsonl,
    read_pydoc,
    sample_examples,
    select_task,
    select_upstream,
)
from forgetmap.errors import DataFormatError, DataSourceError, InputFileNotFoundError


def _write(path, lines):
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


def test_jsonl_reads_the_three_shapes(tmp_path):
    path = _write(
        tmp_path / "mix.jsonl",
        [
            {"id": "t", "text": "plain words"},
            "",
            {"id": 7, "prompt": "hi?", "response": "hello"},
            {
                "id": "m",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "2+2?"},
                    {"role": "assistant", "content": "4"},
                ],
            },
        ],
    )
    text, pair, conversation = read_jsonl(path)
    assert text == Example(id="t", text="plain words", source="mix")
    assert text.kind == "text"
    assert pair.id == "7" and pair.kind == "chat"
    assert pair.messages == (("user", "hi?"), ("assistant", "hello"))
    assert conversation.messages[-1] == ("assistant", "4")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a", "text": "x"}', "{not json"], ":2: not valid JSON"),
        ([{"text": "no id"}], ":1: lacks field 'id'"),
        ([{"id": "a"}], ":1: example 'a' lacks a field"),
        ([{"id": "a", "prompt": "q"}], ":1: example 'a' lacks field 'response'"),
        ([{"id": "a", "prompt": "q", "response": "  "}], ":1: chat example 'a' has an empty"),
        (
            [
                {
                    "id": "a",
                    "messages": [
                        {"role": "user", "content": "q"},
                        {"role": "assistant", "content": ""},
                    ],
                }
            ],
            ":1: chat example 'a' has an empty response",
        ),
        (
            [
                {
                    "id": "a",
                    "messages": [
                        {"role": "assistant", "content": "q"},
                        {"role": "user", "content": "x"},
                    ],
                }
            ],
            "the last message must be the assistant's",
        ),
        (
            [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"}],
            ":3: duplicate id 'a' (first on line 1)",
        ),
        (["[1, 2]"], ":1: expected a JSON object"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path, lines, message):
    path = _write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DataFormatError) as caught:
        read_jsonl(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_jsonl_missing_file(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="does not exist"):
        read_jsonl(tmp_path / "none.jsonl")


def test_huggingface_json_builder_reads_local_files(tmp_path):
    path = _write(
        tmp_path / "rows.jsonl",
        [{"uid": "r1", "body": "first text"}, {"uid": "r2", "body": "second text"}],
    )
    examples = read_huggingface("json", data_files=[path], columns={"id": "uid", "text": "body"})
    assert [e.id for e in examples] == ["r1", "r2"]
    assert examples[1].text == "second text" and examples[0].source == "json"
    chat = _write(tmp_path / "chat.jsonl", [{"prompt": "q", "response": "a"}])
    (example,) = read_huggingface("json", data_files=[chat])
    assert example.id == "json/0" and example.kind == "chat"


def test_huggingface_unloadable_dataset_is_a_source_error(tmp_path):
    with pytest.raises(InputFileNotFoundError):
        read_huggingface("json", data_files=[tmp_path / "absent.jsonl"])
    with pytest.raises(DataSourceError, match="cannot load dataset"):
        read_huggingface(
            "json", data_files=[_write(tmp_path / "x.jsonl", [{"id": 1}])], split="nosuchsplit"
        )


def test_chatterbot_conversations_end_with_the_response():
    examples = read_chatterbot("english", ["history"])
    assert len(examples) == 8
    first = examples[0]
    assert first.id == "chatterbot/english/history/0"
    assert first.source == "chatterbot/english/history"
    assert first.messages == (
        ("user", "tell me about the american civil war"),
        ("assistant", "do you think the south was right?"),
    )
    # a longer conversation alternates backwards from the final assistant turn
    spanish = read_chatterbot("spanish", ["conversations"])
    roles = [role for role, _ in spanish[0].messages]
    assert roles[-1] == "assistant" and roles[-2] == "user" and roles[-3] == "assistant"
    with pytest.raises(DataSourceError, match="no language 'klingon'"):
        read_chatterbot("klingon")
    with pytest.raises(DataSourceError, match="no category 'poetry'"):
        read_chatterbot("english", ["poetry"])


def test_pydoc_chunks_are_bounded_plain_text():
    examples = read_pydoc(["if", "while"], chunk_chars=200)
    assert examples and all(e.kind == "text" and e.source == "pydoc" for e in examples)
    assert all(50 <= len(e.text) <= 200 for e in examples)
    assert examples[0].id.startswith("pydoc/if/")
    assert chunk_text("a b c\n" * 10, 12) == ["a b c\na b c"] * 5
    assert all(len(c) <= 10 for c in chunk_text("word " * 40, 10))
    with pytest.raises(DataSourceError, match="no topic"):
        read_pydoc(["no-such-topic"])


def test_sampling_is_seeded_and_keeps_source_order():
    examples = [Example(id=str(i), text=f"t{i}") for i in range(50)]
    a = sample_examples(examples, 10, [0, 1])
    assert a == sample_examples(examples, 10, [0, 1])
    assert a != sample_examples(examples, 10, [1, 1])
    assert [int(e.id) for e in a] == sorted(int(e.id) for e in a)
    with pytest.raises(DataSourceError, match="asks for 51 examples but the source has 50"):
        sample_examples(examples, 51, 0)


def _config(upstream, tasks=None):
    return parse_config(
        {
            "upstream": upstream,
            "tasks": tasks or [{"id": "t", "source": {"kind": "chatterbot", "language": "german"}}],
        }
    )


def test_select_upstream_splits_n_over_sources():
    config = _config(
        {
            "n": 9,
            "sources": [
                {"kind": "pydoc", "topics": ["if", "for", "while"]},
                {"kind": "chatterbot", "language": "english", "categories": ["history", "money"]},
            ],
        }
    )
    examples = select_upstream(config.upstream, seed=0)
    assert len(examples) == 9
    assert [e.source == "pydoc" for e in examples] == [True] * 5 + [False] * 4
    assert examples == select_upstream(config.upstream, seed=0)
    assert examples != select_upstream(config.upstream, seed=1)


def test_select_upstream_refuses_n_beyond_the_source_and_duplicates():
    config = _config(
        {
            "n": 20,
            "sources": [{"kind": "chatterbot", "language": "english", "categories": ["history"]}],
        }
    )
    with pytest.raises(DataSourceError, match="asks for 20 examples from it but it has 8"):
        select_upstream(config.upstream)
    twice = _config(
        {
            "n": 5,
            "sources": [
                {"kind": "pydoc", "topics": ["if"], "n": 2},
                {"kind": "pydoc", "topics": ["if"]},
            ],
        }
    )
    with pytest.raises(DataSourceError, match="duplicate example id"):
        select_upstream(twice.upstream)


def test_select_task_refuses_an_empty_source(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    config = _config(
        {"n": 1, "sources": [{"kind": "pydoc"}]},
        [{"id": "e", "source": {"kind": "jsonl", "path": "empty.jsonl"}}],
    )
    with pytest.raises(DataSourceError, match=r"tasks\[0\] \('e'.*holds no examples"):
        select_task(config.tasks[0], tmp_path)


def test_select_task_samples_by_task_id():
    config = _config(
        {"n": 1, "sources": [{"kind": "pydoc"}]},
        [
            {"id": "x", "source": {"kind": "chatterbot", "language": "german", "n": 5}},
            {"id": "y", "source": {"kind": "chatterbot", "language": "german", "n": 5}},
        ],
    )
    x, y = (select_task(task, seed=0) for task in config.tasks)
    assert len(x) == 5 and x == select_task(config.tasks[0], seed=0, index=1)
    assert x != y
