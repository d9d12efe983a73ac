"""How the command line reports bad input: one clear line on stderr and exit status 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from mgrd.audio import AudioError

_err = Console(stderr=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can cause (bad files, bad options) into a message and exit 2."""
    try:
        yield
    except (AudioError, ValueError, FileNotFoundError, NotADirectoryError, KeyError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        _err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
        raise typer.Exit(2) from None
