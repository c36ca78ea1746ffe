"""``gfc-kit complete``: complete your own photos with a trained model (the photo pipeline is
:mod:`gfc_kit.inference`)."""

from __future__ import annotations

from pathlib import Path

import click

from gfc_kit.commands.specs import option_component
from gfc_kit.errors import GfcError


@click.command()
@click.option("--run", "run_dir", type=click.Path(path_type=Path), help="A finished run folder.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="A checkpoint file of a run.")
@click.option("--model", help="A model that ships with gfc-kit or a plugin, by name (see gfc-kit models); "
                             "the default model when no --run, --checkpoint or --model is given.")
@click.option("--input", "inputs", required=True, type=click.Path(path_type=Path),
              help="A photo, or a folder of photos (any size; gray, RGBA and 16-bit kept as they are).")
@click.option("--mask", type=click.Path(path_type=Path),
              help="Mask image (white = hole), or a folder holding each photo's mask under the photo's name.")
@click.option("--mask-polarity", type=click.Choice(["white_hole", "black_hole"]), default="white_hole",
              show_default=True, help="black_hole: the mask marks the hole black (known pixels white).")
@click.option("--box", help="Hole as x,y,w,h in the photo's pixels.")
@click.option("--region", type=click.Choice(["O1", "O2", "O3", "O4", "O5", "O6"]),
              help="One of the paper's face-region holes, placed on the face.")
@click.option("--align", "align", metavar="NAME[:KEY=VALUE,...]",
              help="Find and align each face with this aligner (e.g. dlib, from the gfc-align plugin). "
                   "Without it the model sees the fixed --crop.")
@click.option("--blend", default="poisson", show_default=True, metavar="NAME[:KEY=VALUE,...]",
              help="How the fill goes into the photo: paste, feather or poisson (see docs/completing.md).")
@click.option("--faces", type=click.Choice(["largest", "all"]), default="largest", show_default=True,
              help="With --region and --align: the face(s) the region goes on.")
@click.option("--no-face", type=click.Choice(["error", "plain"]), default="error", show_default=True,
              help="With --align, a photo without a face: an error, or completed in the --crop with a warning.")
@click.option("--refine", default="residual", show_default=True, metavar="NAME[:KEY=VALUE,...]",
              help="How the fill gets the photo's fine detail back at full resolution: residual (contextual "
                   "residual aggregation) or none (see docs/completing.md).")
@click.option("--crop", type=click.Choice(["auto", "celeba", "center", "resize", "hole", "original"]), default="auto",
              show_default=True,
              help="Without --align, the part of the photo the model sees (auto: the paper's CelebA crop for "
                   "178:218 photos, else the centre square; hole: a crop around each group of holes at the photo's "
                   "scale; original: the whole photo at its scale; resize: the whole photo resized).")
@click.option("--crop-margin", type=click.IntRange(0), default=128, show_default=True,
              help="--crop hole: pixels of photo kept around each group of holes.")
@click.option("--crop-trigger", type=click.IntRange(0), default=800, show_default=True,
              help="--crop hole: photos whose longer side is at most this are completed whole.")
@click.option("--output", type=click.Path(path_type=Path), default=Path("completed"), show_default=True)
@click.option("--panel", is_flag=True, help="Also save input | masked | completed side by side.")
@click.pass_context
def complete(ctx: click.Context, run_dir: Path | None, checkpoint: Path | None, model: str | None, inputs: Path,
             mask: Path | None, mask_polarity: str, box: str | None, region: str | None, align: str | None,
             blend: str, faces: str, no_face: str, refine: str, crop: str, crop_margin: int, crop_trigger: int,
             output: Path, panel: bool) -> None:
    """Complete your own photos with a trained model; every pixel outside the hole's blend band is kept."""
    from gfc_kit.inference import ModelCompleter, PhotoCompleter
    from gfc_kit.inference.photos import complete_files

    if sum(x is not None for x in (run_dir, checkpoint, model)) > 1:
        raise GfcError("give one of --run RUN_DIR, --checkpoint FILE or --model NAME, not several")
    if run_dir is None and checkpoint is None and model is None:
        from gfc_kit.inference.model_folder import DEFAULT_MODEL

        model = DEFAULT_MODEL
    if sum(x is not None for x in (mask, box, region)) != 1:
        raise GfcError("give exactly one hole: --mask FILE_OR_FOLDER, --box x,y,w,h or --region O1..O6")
    blender = option_component("blender", blend, "--blend")
    refiner = option_component("refiner", refine, "--refine")
    aligner = option_component("aligner", align, "--align") if align is not None else None
    if model is not None:
        from gfc_kit.plugins import registry

        run_dir = registry().model(model, "--model").folder  # what ModelCompleter.pretrained loads, named in errors
    completer = ModelCompleter.from_run(run_dir) if run_dir else ModelCompleter.from_checkpoint(checkpoint)
    photos = PhotoCompleter(completer, blender, aligner, crop=crop, faces=faces, no_face=no_face, refiner=refiner,
                            crop_margin=crop_margin, crop_trigger=crop_trigger)
    failed: list[Path] = []

    def report(path: Path, exc: GfcError) -> None:
        failed.append(path)
        for line in str(exc).splitlines():
            click.echo(f"error: {line}", err=True)

    for written in complete_files(photos, inputs, output, mask=mask, polarity=mask_polarity, box=box, region=region,
                                  panel=panel, on_error=report):
        click.echo(f"wrote {written}")
    if failed:
        click.echo(f"error: {len(failed)} photo(s) of {inputs} not completed (above); the others are in {output}",
                   err=True)
        ctx.exit(2)
