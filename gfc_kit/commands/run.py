"""``gfc-kit run``: train a recipe into a run folder (the training itself is :mod:`gfc_kit.training`)."""

from __future__ import annotations

from pathlib import Path

import click

from gfc_kit.commands.options import OVERRIDES, RECIPE


@click.command()
@RECIPE
@OVERRIDES
@click.option("--output", type=click.Path(path_type=Path), help="Run folder (default: the recipe's output).")
@click.option("--resume", is_flag=True, help="Continue from the run folder's last checkpoint.")
@click.option("--smoke", is_flag=True, help="Every stage for a couple of steps on a tiny batch.")
def run(recipe: str, overrides: tuple[str, ...], output: Path | None, resume: bool, smoke: bool) -> None:
    """Train the recipe's model, stage by stage, into a run folder."""
    from gfc_kit import recipe as recipes
    from gfc_kit.training.smoke import smoke_test
    from gfc_kit.training.trainer import Trainer

    loaded = recipes.load(recipe, overrides)
    if smoke:
        loaded, output = smoke_test(loaded, output)
    trainer = Trainer(loaded, output or loaded.output_dir, resume=resume)
    folder = trainer.run()
    if trainer.rt.main:  # under torchrun, one line for the run, not one per process
        stopped = f" (stopped early: {trainer.stop_reason})" if trainer.stop_reason else ""
        click.echo(f"run finished{stopped}: {folder}")
