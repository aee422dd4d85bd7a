"""The ``forgetmap`` command-line interface: one module per command, assembled in ``_app``."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    from forgetmap.cli._app import main as run

    sys.exit(run(sys.argv[1:]))


__all__ = ["main"]
