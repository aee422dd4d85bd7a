"""Offline corpora that ship with installed packages, so a run needs no network.

- ``chatterbot-corpus``: short conversations in 28 languages, one YAML file per category.
  Each conversation becomes one chat example; its last turn is the assistant's response and
  the turns before it alternate user / assistant backwards from there.
- ``pydoc_data.topics``: the text of Python's ``help()`` topics, cut into plain-text chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from forgetmap.data._example import Example
from forgetmap.errors import DataSourceError


# ---------------------------------------------------------------------- chatterbot-corpus
def chatterbot_root() -> Path:
    """The installed ``chatterbot_corpus/data`` folder."""
    try:
        import chatterbot_corpus
    except ImportError:
        raise DataSourceError(
            "the chatterbot source needs the chatterbot-corpus package: "
            "pip install chatterbot-corpus"
        ) from None
    return Path(chatterbot_corpus.__file__).parent / "data"


def chatterbot_languages() -> list[str]:
    """Languages of the installed corpus, sorted."""
    return sorted(path.name for path in chatterbot_root().iterdir() if path.is_dir())


def chatterbot_categories(language: str) -> list[str]:
    """Category names (YAML file stems) of one language, sorted."""
    folder = chatterbot_root() / language
    if not folder.is_dir():
        raise DataSourceError(
            f"chatterbot corpus has no language {language!r}; languages: "
            + ", ".join(chatterbot_languages())
        )
    return sorted(path.stem for path in folder.glob("*.yml"))


def read_chatterbot(language: str, categories: Sequence[str] | None = None) -> list[Example]:
    """Chat examples of one language, category by category (sorted), in file order.

    Ids are ``chatterbot/<language>/<category>/<k>`` with ``k`` the conversation's position in
    its file; sources ``chatterbot/<language>/<category>``. Conversations with fewer than two
    turns, or that are not lists of strings (a few malformed entries), are skipped.
    """
    import yaml

    available = chatterbot_categories(language)
    if categories is None:
        chosen = available
    else:
        unknown = [name for name in categories if name not in available]
        if unknown:
            raise DataSourceError(
                f"chatterbot corpus has no category {unknown[0]!r} in {language!r}; "
                f"categories: {', '.join(available)}"
            )
        chosen = sorted(set(categories))
    examples: list[Example] = []
    for category in chosen:
        path = chatterbot_root() / language / f"{category}.yml"
        # BaseLoader keeps every scalar a string ("yes" stays "yes", not True).
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
        conversations = document.get("conversations", []) if isinstance(document, dict) else []
        source = f"chatterbot/{language}/{category}"
        for index, turns in enumerate(conversations):
            if not _valid_conversation(turns):
                continue
            last = len(turns) - 1
            messages = tuple(
                ("assistant" if (last - i) % 2 == 0 else "user", turn.strip())
                for i, turn in enumerate(turns)
            )
            examples.append(Example(id=f"{source}/{index}", messages=messages, source=source))
    return examples


def _valid_conversation(turns: object) -> bool:
    return (
        isinstance(turns, list)
        and len(turns) >= 2
        and all(isinstance(turn, str) and turn.strip() for turn in turns)
    )


# ---------------------------------------------------------------------- pydoc topics
def pydoc_topics() -> list[str]:
    """Names of Python's help topics, sorted."""
    from pydoc_data.topics import topics

    return sorted(topics)


def read_pydoc(topics: Sequence[str] | None = None, *, chunk_chars: int = 300) -> list[Example]:
    """Plain-text chunks of Python's help topics, topic by topic (sorted).

    Each topic's text is cut on line breaks into chunks of about ``chunk_chars`` characters (a
    line longer than that is cut at spaces); chunks shorter than a quarter of that, usually a
    topic's last lines, are dropped, so each example is a comparable piece of prose or code.
    Ids are ``pydoc/<topic>/<k>``; the source is ``pydoc``.
    """
    from pydoc_data.topics import topics as texts

    if topics is None:
        chosen = sorted(texts)
    else:
        unknown = [name for name in topics if name not in texts]
        if unknown:
            raise DataSourceError(
                f"pydoc has no topic {unknown[0]!r}; topics include "
                + ", ".join(sorted(texts)[:12])
                + ", ..."
            )
        chosen = sorted(set(topics))
    examples = []
    for topic in chosen:
        for index, chunk in enumerate(chunk_text(texts[topic], chunk_chars)):
            if len(chunk) >= chunk_chars // 4:
                examples.append(Example(id=f"pydoc/{topic}/{index}", text=chunk, source="pydoc"))
    return examples


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Cut ``text`` into stripped chunks of at most about ``chunk_chars`` characters.

    Lines are kept whole and packed greedily; a single line longer than ``chunk_chars`` is cut
    at the last space before the limit (or hard at the limit when it has none). Blank chunks
    are dropped.
    """
    pieces: list[str] = []
    for line in text.splitlines():
        while len(line) > chunk_chars:
            cut = line.rfind(" ", 0, chunk_chars)
            cut = cut if cut > 0 else chunk_chars
            pieces.append(line[:cut])
            line = line[cut:].lstrip()
        pieces.append(line)
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        if current and size + len(piece) + 1 > chunk_chars:
            chunks.append("\n".join(current).strip())
            current, size = [], 0
        current.append(piece)
        size += len(piece) + 1
    if current:
        chunks.append("\n".join(current).strip())
    return [chunk for chunk in chunks if chunk]
