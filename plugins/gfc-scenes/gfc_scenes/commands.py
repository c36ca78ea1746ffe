"""``gfc-kit masks write``: a fixed evaluation set (see :mod:`gfc_scenes.mask_set`)."""

from __future__ import annotations

from pathlib import Path

import click


def register(cli: click.Group) -> None:
    @cli.group()
    def masks() -> None:
        """Mask sets (from the gfc-scenes plugin)."""

    @masks.command()
    @click.option("--input", "sources", type=click.Path(path_type=Path), required=True, multiple=True,
                  help="A folder of photos (searched recursively); repeatable, each then keeping its path "
                       "below the folders' common parent.")
    @click.option("--output", type=click.Path(path_type=Path), required=True,
                  help="A new or empty folder for the crops, masks and manifest.")
    @click.option("--preset", type=click.Choice(["thin", "medium", "thick"]), required=True,
                  help="LaMa's mask set (random_PRESET_RESOLUTION).")
    @click.option("--resolution", type=click.Choice(["256", "512"]), default="256", show_default=True,
                  help="The crop side, and the LaMa configuration whose sizes are used.")
    @click.option("--size", type=click.IntRange(16, 4096),
                  help="The crop side, when not the resolution's (LaMa's sizes are scaled to it).")
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--split", type=click.Choice(["all", "train", "val", "test", "held_out"]), default="all",
                  show_default=True, help="Only the photos of this split, by the hash of each photo's name that "
                  "scene_folder uses (held_out: val and test, the photos a scene_folder train split never has).")
    @click.option("--held-out", type=click.FloatRange(0, 0.5, min_open=True, max_open=True), default=0.1,
                  show_default=True, help="With --split: the fraction of photos in each of test and val.")
    @click.option("--limit", type=click.IntRange(1), help="At most this many photos (sorted by path).")
    def write(sources: tuple[Path, ...], output: Path, preset: str, resolution: str, size: int | None, seed: int, split: str,
              held_out: float, limit: int | None) -> None:
        """Write a fixed evaluation set in LaMa's naming: a square crop of each photo and its mask
        (X_crop000.png, X_crop000_mask000.png, white = hole), with a SHA-256 manifest."""
        from gfc_scenes.mask_set import write_mask_set

        manifest = write_mask_set(list(sources), output, preset, int(resolution), seed, split, held_out, limit, size)
        click.echo(f"wrote {manifest.parent} ({sum(1 for _ in manifest.open()) // 2} crops, manifest {manifest.name})")
