"""``gfc-kit bench``'s options; the measuring is :mod:`gfc_kit.commands.bench` (a recipe) and
:mod:`gfc_kit.commands.bench_model` (``--model``), which import torch, kept out of ``gfc-kit --help``."""

from __future__ import annotations

from pathlib import Path

import click

from gfc_kit.commands.options import OVERRIDES
from gfc_kit.errors import GfcError


@click.command()
@click.argument("recipe", metavar="[RECIPE]", required=False)
@OVERRIDES
@click.option("--model", help="Instead of a recipe: a shipped model by name, timed by every execution path "
                             "(PyTorch, bf16, compiled, ONNX Runtime fp32/int8) with each path's hole PSNR change.")
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True, help="Training batch.")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True, help="Timed calls per figure.")
@click.option("--warmup", type=click.IntRange(0), default=1, show_default=True, help="Untimed calls first.")
@click.option("--compile/--no-compile", "compiled", default=False, show_default=True,
              help="Also time torch.compile (compiling the paper's generator takes minutes on a laptop CPU).")
@click.option("--faces", type=click.IntRange(16), default=200, show_default=True,
              help="--model: faces each path completes for its hole PSNR change.")
@click.option("--data", default="synthetic_faces", show_default=True,
              help="--model: the faces (a folder, or a dataset spec such as celeba:root=PATH,split=test).")
@click.option("--save", is_flag=True, help="--model: record the fastest path that loses at most 0.1 dB hole PSNR "
                                           "for this machine; gfc-kit complete and ModelCompleter then use it.")
@click.option("--json", "json_file", type=click.Path(path_type=Path), help="Also write the figures as JSON.")
def bench(recipe: str | None, overrides: tuple[str, ...], model: str | None, batch_size: int, repeats: int,
          warmup: int, compiled: bool, faces: int, data: str, save: bool, json_file: Path | None) -> None:
    """Measure training and inference speed of a recipe's model (default: the paper's), or the
    execution paths of a shipped model (--model) on this machine."""
    if model is not None:
        if recipe is not None or overrides:
            raise GfcError("give a RECIPE (with --set) or --model NAME, not both")
        from gfc_kit.commands.bench_model import run_model_bench

        run_model_bench(model, data, faces, repeats, max(warmup, 1), compiled, save, json_file)
        return
    if save:
        raise GfcError("--save records a model's fastest path: give --model NAME")
    from gfc_kit import recipe as recipes
    from gfc_kit.commands.bench import run_bench

    run_bench(recipes.load(recipe or "gfc_cvpr17", overrides), batch_size, repeats, warmup, compiled, json_file)
