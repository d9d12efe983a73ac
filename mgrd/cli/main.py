"""The `mgrd` command line."""

from __future__ import annotations

import importlib

import typer

from mgrd.cli import chat, model_commands

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Step-Audio-R1 and MGRD: run, train and evaluate audio language models that think.")
app.command("init-tiny")(model_commands.init_tiny)
app.command("info")(model_commands.info)
app.command("merge-adapter")(model_commands.merge_adapter)
app.command("export-text-base")(model_commands.export_text_base)
app.command("export-base")(model_commands.export_base)
app.command("chat")(chat.chat)

# Command groups that live in their own modules; each module has `register(app)`.
for _name in ("serve", "world", "evaluate", "train", "pipeline", "plan"):
    try:
        _module = importlib.import_module(f"mgrd.cli.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"mgrd.cli.{_name}":
            raise
        continue
    _module.register(app)

if __name__ == "__main__":
    app()
