"""Assemble the self-contained HTML page: the template with its style, script and data inline.

Safety: the only data on the page is one JSON document inside ``<script type="application/json">``
with ``<``, ``>`` and ``&`` written as ``\\u003c``, ``\\u003e`` and ``\\u0026``, so no text from the
data (an example containing ``</script>``, say) can end the element or form markup. The page's own
script puts data on screen with ``textContent`` only, and a Content-Security-Policy forbids every
network request.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

__all__ = ["SCRIPT_PARTS", "embed_json", "page_script", "render_page"]

_PLACEHOLDER = re.compile(r"/\*@(style|script|data)@\*/")
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def embed_json(document: Any) -> str:
    """``document`` as strict JSON that is inert inside an HTML ``<script>`` element.

    The escaped characters can only occur inside JSON strings, where a ``\\u`` escape reads back as
    the same character, so ``JSON.parse`` returns exactly ``document``.
    """
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda match: _JSON_ESCAPES[match.group()], text)


SCRIPT_PARTS = ("dom.js", "heatmap.js", "charts.js", "sections.js")
"""The page's script files (``templates/``), in order; they share one function scope."""


def _template(name: str) -> str:
    return resources.files("forgetmap.report").joinpath("templates", name).read_text("utf-8")


def page_script() -> str:
    """The page's script: :data:`SCRIPT_PARTS` in order, inside one strict function scope."""
    body = "\n".join(_template(name) for name in SCRIPT_PARTS)
    return f'(function () {{\n  "use strict";\n{body}}})();\n'


def render_page(document: Any) -> str:
    """The report page for a data document (see :func:`~forgetmap.report.prepare_report`)."""
    parts = {
        "style": _template("report.css"),
        "script": page_script(),
        "data": embed_json(document),
    }
    for name, text in parts.items():
        if name != "data" and "</" in text:
            raise RuntimeError(f"the page's {name} must not contain '</'")
    # One pass, so text inside the data can never be taken for a placeholder.
    return _PLACEHOLDER.sub(lambda match: parts[match.group(1)], _template("report.html"))
