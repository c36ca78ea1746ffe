"""The ``gfc-kit`` command line: the click group and each command's glue from options to the
engines (trainer, completer, evaluator, bench). Plugins add commands with ``gfc_register_commands``."""

from gfc_kit.commands.cli import cli, main

__all__ = ["cli", "main"]
