"""One upstream or task example: plain text, or a chat whose last message is the scored response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from forgetmap.errors import DataFormatError


@dataclass(frozen=True)
class Example:
    """One example, identified by a stable string id.

    Exactly one of ``text`` and ``messages`` is set. Plain text is scored and trained on every
    token (but the first, which nothing predicts); a chat is scored and trained on its last message
    only, the assistant's response, so that what counts does not depend on the prompt.

    Parameters
    ----------
    id : str
        Stable identifier, unique within a run; rows and columns of the store are keyed by it.
    text : str or None
        Plain text.
    messages : tuple of (role, content) pairs or None
        A conversation, e.g. ``(("user", "Hi"), ("assistant", "Hello!"))``; the last message is
        the response.
    source : str
        Where the example comes from, e.g. ``"pydoc"`` or ``"chatterbot/english/history"``.
    """

    id: str
    text: str | None = None
    messages: tuple[tuple[str, str], ...] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if (self.text is None) == (self.messages is None):
            raise DataFormatError(f"example {self.id!r}: give exactly one of text and messages")
        if self.text is not None and not self.text.strip():
            raise DataFormatError(f"example {self.id!r}: the text is empty")
        if self.messages is not None:
            # Accept lists from JSON but store hashable tuples, so examples stay frozen values.
            messages = tuple(tuple(message) for message in self.messages)
            if not messages or any(
                len(m) != 2 or not all(isinstance(part, str) for part in m) for m in messages
            ):
                raise DataFormatError(
                    f"example {self.id!r}: messages must be a non-empty sequence of "
                    "(role, content) string pairs"
                )
            if not messages[-1][1].strip():
                raise DataFormatError(
                    f"example {self.id!r}: the chat response (the last message) is empty"
                )
            object.__setattr__(self, "messages", messages)

    @property
    def kind(self) -> Literal["text", "chat"]:
        """``"text"`` for plain text, ``"chat"`` for a conversation."""
        return "text" if self.text is not None else "chat"

    @property
    def display_text(self) -> str:
        """The example as one string for tables and reports (chat: ``role: content`` lines)."""
        if self.text is not None:
            return self.text
        assert self.messages is not None
        return "\n".join(f"{role}: {content}" for role, content in self.messages)
