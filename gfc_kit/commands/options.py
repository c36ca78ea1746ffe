"""Options that several commands take, written once so they read the same in every ``--help``."""

from __future__ import annotations

import click

RECIPE = click.argument("recipe", metavar="RECIPE")
OVERRIDES = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a recipe value: dotted path, list indices allowed, value parsed as YAML "
         "(e.g. --set stages.0.steps=10). Repeatable.")
