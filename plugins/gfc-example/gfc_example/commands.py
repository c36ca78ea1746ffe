"""A ``gfc-kit`` subcommand from a plugin: ``gfc-kit example rings`` writes ring-shaped masks."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image

from gfc_example.ring import Ring


def register(cli: click.Group) -> None:
    @cli.group()
    def example() -> None:
        """Commands of the gfc-example plugin."""

    @example.command()
    @click.option("--count", type=click.IntRange(1, 10_000), default=8, show_default=True)
    @click.option("--size", type=click.IntRange(16, 4096), default=128, show_default=True)
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--output", type=click.Path(path_type=Path), required=True, help="Folder for the PNG masks.")
    def rings(count: int, size: int, seed: int, output: Path) -> None:
        """Write COUNT ring masks (white = hole) as PNGs, e.g. for --mask or the mask_folder sampler."""
        output.mkdir(parents=True, exist_ok=True)
        masks = Ring()({"image": torch.zeros(count, 3, size, size)}, torch.Generator().manual_seed(seed))
        for i, mask in enumerate(masks):
            Image.fromarray((mask[0].numpy() * 255).astype(np.uint8)).save(output / f"ring_{i:04d}.png")
        click.echo(f"wrote {count} masks to {output}")
