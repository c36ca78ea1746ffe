"""``gfc-kit export``: pack a run's or a shipped model's generator as a model folder or an ONNX file."""

from __future__ import annotations

from pathlib import Path

import click

from gfc_kit.errors import GfcError


@click.command()
@click.argument("run_dir", metavar="[RUN_DIR]", required=False, type=click.Path(path_type=Path))
@click.option("--model", help="A model that ships with gfc-kit or a plugin, by name, instead of a RUN_DIR.")
@click.option("--format", "format_", type=click.Choice(["folder", "onnx"]), default="folder", show_default=True,
              help="folder: model.json + safetensors (for gfc-kit and ModelCompleter); onnx: the generator as one "
                   "ONNX file (fp32, opset 18, dynamic batch and, for fully convolutional models, sides; the "
                   "model's metadata inside), checked against PyTorch in ONNX Runtime.")
@click.option("--output", type=click.Path(path_type=Path), required=True,
              help="The model folder (--format folder) or .onnx file (--format onnx) to write.")
@click.option("--dtype", type=click.Choice(["fp32", "fp16", "bf16"]), default="fp16", show_default=True,
              help="--format folder: how the weights are stored (the model still computes in fp32).")
@click.option("--no-parser", is_flag=True, help="--format folder: leave the run's parser out.")
def export(run_dir: Path | None, model: str | None, format_: str, output: Path, dtype: str, no_parser: bool) -> None:
    """Pack a finished run's (or a shipped model's) generator as a model folder or an ONNX file."""
    from gfc_kit.inference import export_model

    if (run_dir is None) == (model is None):
        raise GfcError("give one of RUN_DIR or --model NAME")
    if model is not None:
        from gfc_kit.plugins import registry

        run_dir = registry().model(model, "--model").folder
    if format_ == "folder":
        written = export_model(run_dir, output, dtype, parser=not no_parser)
    else:
        from gfc_kit.inference import ModelCompleter, read_model_json
        from gfc_kit.inference.onnx_export import export_onnx

        if output.suffix != ".onnx":
            raise GfcError(f"--output {output}: --format onnx writes one file; give a name ending in .onnx")
        completer = ModelCompleter.from_run(run_dir, fastest=False)
        written = [export_onnx(completer.generator, read_model_json(run_dir), output)]
    for path in written:
        click.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
