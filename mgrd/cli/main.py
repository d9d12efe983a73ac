"""The `mgrd` command line."""

from __future__ import annotations

import typer

from mgrd.cli import chat, model_commands

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Step-Audio-R1 and MGRD: run, train and evaluate audio language models that think.")
app.command("init-tiny")(model_commands.init_tiny)
app.command("info")(model_commands.info)
app.command("chat")(chat.chat)

if __name__ == "__main__":
    app()
