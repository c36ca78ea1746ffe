"""``gfc-kit recipe``: check, show and describe recipes, and preview what one trains on."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gfc_kit.commands.options import OVERRIDES, RECIPE
from gfc_kit.errors import GfcError


@click.group()
def recipe() -> None:
    """Check, show and describe recipes."""


@recipe.command()
@RECIPE
@OVERRIDES
def check(recipe: str, overrides: tuple[str, ...]) -> None:
    """Validate a recipe: its shape, and every component's parameters."""
    from gfc_kit import recipe as recipes

    loaded = recipes.load(recipe, overrides)
    click.echo(f"{recipes.find(recipe)}: ok ({loaded.name}, {len(loaded.stages)} stages)")


@recipe.command()
@RECIPE
@OVERRIDES
def show(recipe: str, overrides: tuple[str, ...]) -> None:
    """Print the resolved recipe: base merged, overrides applied, every default filled in."""
    from gfc_kit import recipe as recipes

    click.echo(recipes.dump(recipes.load(recipe, overrides)), nl=False)


@recipe.command()
def schema() -> None:
    """Print the recipes' JSON schema, components and their parameters included."""
    from gfc_kit import recipe as recipes

    click.echo(json.dumps(recipes.json_schema(), indent=2))


@recipe.command()
@RECIPE
@OVERRIDES
@click.option("--output", type=click.Path(path_type=Path), default=Path("preview.png"), show_default=True)
@click.option("--count", type=click.IntRange(1, 64), default=8, show_default=True)
def preview(recipe: str, overrides: tuple[str, ...], output: Path, count: int) -> None:
    """Save a picture of the recipe's training data: images, parsing labels, masked inputs."""
    from gfc_kit import recipe as recipes
    from gfc_kit.commands.preview import save_preview
    from gfc_kit.outputs import output_file

    if output.is_dir() or output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise GfcError(f"--output {output}: give a picture's file name ending in .png or .jpg")
    output_file(output)  # writable, before the recipe's data is read
    path = save_preview(recipes.load(recipe, overrides), output, count)
    click.echo(f"wrote {path}")
