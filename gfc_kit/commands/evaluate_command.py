"""``gfc-kit evaluate``'s options; what it does with them is :mod:`gfc_kit.commands.evaluate`, which
imports torch, kept out of ``gfc-kit --help``."""

from __future__ import annotations

from pathlib import Path

import click

from gfc_kit.commands.specs import option_component


@click.command()
@click.option("--run", "runs", multiple=True, type=click.Path(path_type=Path),
              help="A finished run folder to evaluate (repeatable, to compare runs).")
@click.option("--model", "models", multiple=True, help="A model that ships with gfc-kit, by name (repeatable).")
@click.option("--data", required=True,
              help="A folder of images, or a dataset spec: celeba:PATH, {type: celeba, root: PATH, split: test}.")
@click.option("--masks", multiple=True, default=("O1,O2,O3,O4,O5,O6,center,free_form",), show_default=True,
              help="Mask types: O1..O6, center, random_square, free_form, mask_folder:PATH, name:key=value.")
@click.option("--completers", multiple=True,
              help="Completers besides the runs; 'none' for runs only. [default: telea,navier_stokes,mean_fill; "
                   "Telea and Navier-Stokes only when OpenCV is installed]")
@click.option("--metrics", multiple=True, default=("psnr,psnr:region=hole,ssim,ssim:region=hole,l1,detail",),
              show_default=True, help="Metric components (name or name:key=value), e.g. lpips:weights=PATH.")
@click.option("--parser", "parser_run", default="auto", show_default=True,
              help="Run whose parser gives the parsing score: auto (the first run that has one), none, or a run folder.")
@click.option("--limit", type=click.IntRange(1), default=200, show_default=True, help="Images to evaluate.")
@click.option("--image-size", type=click.IntRange(16), default=128, show_default=True)
@click.option("--size-study/--no-size-study", default=True, show_default=True,
              help="Also score centred square holes of growing size and plot quality against hole size.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the image-hole pairing.")
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True)
@click.option("--fid-weights", type=click.Path(path_type=Path),
              help="Also report FID, with this local Inception file (pt_inception-2015-12-05-6726825d.pth).")
@click.option("--full-resolution", is_flag=True,
              help="Score each photo of the --data folder at its own size, holes drawn at that size, the runs "
                   "completing through the photo pipeline (--align, --crop, --refine, --blend) as gfc-kit complete "
                   "does; the detail ratio then uses sigma 2 px unless --metrics names it.")
@click.option("--align", metavar="NAME[:KEY=VALUE,...]", help="--full-resolution: the aligner (e.g. dlib).")
@click.option("--crop", type=click.Choice(["auto", "celeba", "center", "resize", "hole", "original"]), default="auto",
              show_default=True, help="--full-resolution without --align: the crop strategy (see gfc-kit complete).")
@click.option("--refine", "refiners", multiple=True, default=("residual",), show_default=True,
              metavar="NAME[:KEY=VALUE,...]", help="--full-resolution: the refiner (repeatable: one column each).")
@click.option("--blend", default="poisson", show_default=True, metavar="NAME[:KEY=VALUE,...]",
              help="--full-resolution: the blender.")
@click.option("--output", type=click.Path(path_type=Path), required=True, help="Report folder.")
def evaluate(runs: tuple[Path, ...], models: tuple[str, ...], data: str, masks: tuple[str, ...], completers: tuple[str, ...],
             metrics: tuple[str, ...], parser_run: str, limit: int, image_size: int, size_study: bool, seed: int,
             batch_size: int, fid_weights: Path | None, full_resolution: bool, align: str | None, crop: str,
             refiners: tuple[str, ...], blend: str, output: Path) -> None:
    """Score runs and classical baselines side by side on the same images and holes; write a report."""
    from gfc_kit.commands.evaluate import FullResolution, evaluate_to_report
    from gfc_kit.plugins import registry

    chosen_runs = runs + tuple(registry().model(m, "--model").folder for m in models)
    pipeline = None
    if full_resolution:
        pipeline = FullResolution(option_component("blender", blend, "--blend"),
                                  {text: option_component("refiner", text, "--refine") for text in refiners},
                                  option_component("aligner", align, "--align") if align else None, crop)
        if metrics == ("psnr,psnr:region=hole,ssim,ssim:region=hole,l1,detail",):
            metrics = ("psnr,psnr:region=hole,ssim,ssim:region=hole,l1,detail:sigma=2",)
    report = evaluate_to_report(chosen_runs, data, masks, completers, metrics, parser_run, limit, image_size,
                                size_study, seed, batch_size, output, fid_weights, pipeline)
    click.echo(f"wrote {report}")
