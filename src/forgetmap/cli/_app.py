"""The ``forgetmap`` command: assembles the subcommands and maps bad input to exit code 2."""

from __future__ import annotations

import enum
import errno
import os
import sys
from typing import Annotated

import typer

try:  # typer ≥ 0.20 vendors click; older releases use the click package
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors

from forgetmap import __version__
from forgetmap.cli._commands import REGISTRY
from forgetmap.cli._output import Output
from forgetmap.errors import ForgetmapError

EXIT_BAD_INPUT = 2
#: Errors of the machine rather than of forgetmap, met while writing in the middle of a long
#: job (a full disk, a quota, a file system remounted read-only): reported as one line, since
#: a traceback would add nothing the user can act on. Other OSErrors propagate.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


class OutputFormat(enum.StrEnum):
    human = "human"
    json = "json"


app = typer.Typer(
    name="forgetmap",
    help="Measure, analyse, predict and mitigate what fine-tuning makes a language model forget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        print(f"forgetmap {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    format: Annotated[
        OutputFormat,
        typer.Option("--format", help="Output for people (human) or programs (json)."),
    ] = OutputFormat.human,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Measure, analyse, predict and mitigate what fine-tuning makes a language model forget."""
    ctx.obj = Output(format.value)


for register in REGISTRY:
    register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; known errors become one line on stderr and exit code 2."""
    debug = os.environ.get("FORGETMAP_DEBUG", "") not in ("", "0")
    try:
        result = app(args=argv, prog_name="forgetmap", standalone_mode=False)
    except ForgetmapError as error:
        if debug:
            raise
        print(f"forgetmap: error: {error} (FORGETMAP_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        if debug or error.errno not in _WRITE_ERRNOS:
            raise
        where = f" writing {error.filename!r}" if error.filename else ""
        print(
            f"forgetmap: error: {error.strerror}{where}; free space or give another --out, then "
            "run the same command again (FORGETMAP_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except getattr(click_errors, "NoArgsIsHelpError", ()) as error:
        print(error.ctx.get_help() if error.ctx else "", file=sys.stdout)
        return 0
    except click_errors.UsageError as error:
        command = error.ctx.command_path if error.ctx else "forgetmap"
        print(f"{command}: error: {error.format_message()} (see --help)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except typer.Exit as exit_:
        return int(exit_.exit_code)
    except typer.Abort:
        print("forgetmap: interrupted", file=sys.stderr)
        return 130
    except click_errors.ClickException as error:
        print(f"forgetmap: error: {error.format_message()}", file=sys.stderr)
        return error.exit_code
    return int(result) if isinstance(result, int) else 0
