"""The ``gfc-kit`` command line: the click group (``cli.py``), one module per command, and each
command's glue from options to the engines (trainer, completer, evaluator, bench). gfc-kit's own
commands (``builtin.py``) and plugins' are added with the same hook, ``gfc_register_commands``."""

from gfc_kit.commands.cli import cli, main

__all__ = ["cli", "main"]
