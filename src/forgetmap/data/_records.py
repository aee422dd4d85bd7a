"""Turn one record (a JSONL line, a dataset row) into an :class:`Example`.

Three shapes are accepted, the same for every source that yields records:

- ``{"id", "text"}``: plain text; every token is trained on and scored.
- ``{"id", "prompt", "response"}``: one chat exchange; only the response is scored.
- ``{"id", "messages": [{"role", "content"}, ...]}``: a conversation whose last message (the
  assistant's) is the response that is scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgetmap.data._example import Example
from forgetmap.errors import DataFormatError

ROLES = ("system", "user", "assistant")
FIELDS = ("id", "text", "prompt", "response", "messages")


def example_to_record(example: Example) -> dict[str, Any]:
    """The record that :func:`record_to_example` reads back as ``example`` (its inverse).

    ``{"id", "text"}`` for plain text, ``{"id", "messages": [{"role", "content"}, ...]}`` for a
    chat; so examples written as JSONL lines are read by the ``jsonl`` source unchanged.
    """
    if example.text is not None:
        return {"id": example.id, "text": example.text}
    assert example.messages is not None
    return {
        "id": example.id,
        "messages": [{"role": role, "content": content} for role, content in example.messages],
    }


def record_to_example(
    record: Any, *, where: str, source: str, default_id: str | None = None
) -> Example:
    """Parse one record; ``where`` (e.g. ``"data.jsonl:7"``) prefixes every error message.

    Raises :class:`~forgetmap.errors.DataFormatError` for a record that is not an object, lacks
    an id (when no ``default_id`` is given) or a content field, or has an empty response.
    """
    if not isinstance(record, Mapping):
        raise DataFormatError(f"{where}: expected a JSON object, got {type(record).__name__}")
    example_id = _example_id(record, where, default_id)
    if record.get("text") is not None:
        text = record["text"]
        if not isinstance(text, str):
            raise DataFormatError(f"{where}: field 'text' must be a string")
        if not text.strip():
            raise DataFormatError(f"{where}: example {example_id!r} has an empty text")
        return Example(id=example_id, text=text, source=source)
    if record.get("messages") is not None:
        messages = _messages(record["messages"], where)
    elif record.get("prompt") is not None or record.get("response") is not None:
        for field in ("prompt", "response"):
            if not isinstance(record.get(field), str):
                raise DataFormatError(
                    f"{where}: example {example_id!r} lacks field {field!r} (a string)"
                )
        messages = (("user", record["prompt"]), ("assistant", record["response"]))
    else:
        raise DataFormatError(
            f"{where}: example {example_id!r} lacks a field: give 'text', "
            "'prompt' and 'response', or 'messages'"
        )
    if not messages[-1][1].strip():
        raise DataFormatError(f"{where}: chat example {example_id!r} has an empty response")
    return Example(id=example_id, messages=messages, source=source)


def _example_id(record: Mapping[str, Any], where: str, default_id: str | None) -> str:
    value = record.get("id")
    if value is None:
        if default_id is None:
            raise DataFormatError(f"{where}: lacks field 'id'")
        return default_id
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataFormatError(f"{where}: field 'id' must be a string or an integer")
    value = str(value)
    if not value.strip():
        raise DataFormatError(f"{where}: field 'id' is empty")
    return value


def _messages(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise DataFormatError(f"{where}: 'messages' must be a list of at least two messages")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, Mapping):
            raise DataFormatError(f"{where}: messages[{index}] must be an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise DataFormatError(
                f"{where}: messages[{index}] needs a 'role' of {', '.join(ROLES)}, got {role!r}"
            )
        if not isinstance(content, str):
            raise DataFormatError(f"{where}: messages[{index}] lacks field 'content' (a string)")
        messages.append((role, content))
    if messages[-1][0] != "assistant":
        raise DataFormatError(
            f"{where}: the last message must be the assistant's response, got role "
            f"{messages[-1][0]!r}"
        )
    return tuple(messages)
