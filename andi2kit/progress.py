"""One rich progress bar style for every long loop."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Silent:
    def add_task(self, *args, **kwargs) -> int:
        return 0

    def advance(self, *args, **kwargs) -> None:
        pass

    def update(self, *args, **kwargs) -> None:
        pass


@contextlib.contextmanager
def progress_bar(enabled: bool = True, console: Console | None = None,
                 redirect: bool = True) -> Iterator[Progress | _Silent]:
    """A rich ``Progress`` (or a silent stand-in when ``enabled`` is False).

    Parameters
    ----------
    enabled : bool
        Show the bar.
    console : rich.console.Console, optional
        Where to draw it (default: rich's console on stdout).
    redirect : bool
        Let rich capture stdout/stderr while the bar is shown.
    """
    if not enabled:
        yield _Silent()
        return
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), transient=False, console=console,
        redirect_stdout=redirect, redirect_stderr=redirect,
    ) as bar:
        yield bar
