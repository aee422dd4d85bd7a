"""Examples and the sources they come from."""

from forgetmap.data._example import Example

__all__ = ["Example"]
