"""gfc-kit's own commands, added through ``gfc_register_commands``: the hook plugins add theirs with."""

from __future__ import annotations

import click

from gfc_kit.commands.bench_command import bench
from gfc_kit.commands.complete import complete
from gfc_kit.commands.evaluate_command import evaluate
from gfc_kit.commands.export import export
from gfc_kit.commands.models_list import models
from gfc_kit.commands.plugins_list import plugins
from gfc_kit.commands.recipe import recipe
from gfc_kit.commands.run import run
from gfc_kit.commands.serve import serve
from gfc_kit.hookspecs import hookimpl


@hookimpl
def gfc_register_commands(cli: click.Group) -> None:
    """Add ``run``, ``complete``, ``export``, ``evaluate``, ``bench``, ``models``, ``plugins``,
    ``recipe`` and ``serve``."""
    for command in (run, complete, export, evaluate, bench, models, plugins, recipe, serve):
        cli.add_command(command)
