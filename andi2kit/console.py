"""The command line's boundary: output consoles, logging, and errors as short messages.

Every command runs inside :class:`ErrorBoundary`, which turns the project's input errors
(:data:`andi2kit.errors.USER_ERRORS`) into one or two lines on stderr naming the file or
option, and exit code 2; ``andi2kit --debug`` shows the traceback instead. Text that comes
from the user (paths, option values, messages quoting them) is escaped before rich renders
it, so ``[nan]`` or a folder called ``[/x]`` print as they are.
"""

from __future__ import annotations

import logging
import sys

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from typer.core import TyperGroup

from andi2kit.errors import USER_ERRORS
from andi2kit.execution import sigterm_interrupts

#: Exit code of an input problem or a bad option (click uses it for usage errors too).
EXIT_INPUT = 2

# wide enough for the score tables when the output is a file or a CI log
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)

_state = {"debug": False}


def say(text: object, style: str | None = None, *, stderr: bool = False) -> None:
    """Print user-derived ``text`` literally (escaped), optionally in a rich ``style``."""
    body = escape(str(text))
    target = err if stderr else console
    target.print(f"[{style}]{body}[/{style}]" if style else body, highlight=False)


def setup(verbose: int = 0, quiet: bool = False, debug: bool = False) -> None:
    """Configure logging (WARNING with ``quiet``, INFO by default, DEBUG with ``-v``) and
    whether errors show their traceback."""
    _state["debug"] = debug
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger("andi2kit")
    root.setLevel(level)
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        root.addHandler(RichHandler(console=err, show_time=False, show_path=False,
                                    markup=False, rich_tracebacks=False))
        root.propagate = False
    for h in root.handlers:
        h.setLevel(level)
    if not debug:
        for noisy in ("absl", "tensorflow", "h5py", "numba", "matplotlib", "tifffile"):
            logging.getLogger(noisy).setLevel(logging.ERROR)


def quiet() -> bool:
    """True when ``-q`` was given (progress bars are then hidden too)."""
    return logging.getLogger("andi2kit").level > logging.INFO


def fail(message: str, code: int = EXIT_INPUT) -> click.exceptions.Exit:
    """Print ``message`` (first two lines) in red on stderr; the exit to raise."""
    lines = str(message).strip().splitlines() or ["error"]
    say("error: " + "\n".join(lines[:2]), "red", stderr=True)
    return click.exceptions.Exit(code)


class ErrorBoundary(TyperGroup):
    """A command group whose commands report input errors as short messages, and stop on
    SIGTERM as on Ctrl-C (exit code 130)."""

    def invoke(self, ctx: click.Context):  # noqa: D102  (click API)
        try:
            with sigterm_interrupts():  # kill → unwind: temporary files removed, exit 130
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            say("interrupted: finished files are kept, nothing is half-written", "yellow",
                stderr=True)
            raise click.exceptions.Exit(130) from None
        except USER_ERRORS as exc:
            if _state["debug"]:
                raise
            msg = str(exc) if not isinstance(exc, OSError) or not exc.filename else \
                f"{exc.filename}: {exc.strerror}"
            raise fail(msg) from None
