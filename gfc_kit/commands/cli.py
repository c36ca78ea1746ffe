"""The ``gfc-kit`` command line. Input problems print ``error: …`` lines and exit with status 2."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from gfc_kit import __version__
from gfc_kit.errors import GfcError

RECIPE = click.argument("recipe", metavar="RECIPE")
OVERRIDES = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a recipe value: dotted path, list indices allowed, value parsed as YAML "
         "(e.g. --set stages.0.steps=10). Repeatable.")


class _Group(click.Group):
    """Turns :class:`GfcError` into one ``error:`` line per problem and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GfcError as exc:
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gfc-kit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """gfc-kit: face completion (Generative Face Completion, CVPR 2017) as recipes and plugins."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _plugin_warnings_as_lines()
    if ctx.invoked_subcommand != "plugins":  # which lists them itself
        from gfc_kit.plugins import registry

        registry()  # a broken plugin is said once, now, as a "warning:" line


class _WarningLines(logging.Handler):
    """Plugin problems as ``warning: …`` lines on stderr (click's current one)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"warning: {record.getMessage()}", err=True)


def _plugin_warnings_as_lines() -> None:
    plugin_log = logging.getLogger("gfc_kit.plugins")
    plugin_log.handlers = [_WarningLines()]
    plugin_log.propagate = False


@cli.command()
@RECIPE
@OVERRIDES
@click.option("--output", type=click.Path(path_type=Path), help="Run folder (default: the recipe's output).")
@click.option("--resume", is_flag=True, help="Continue from the run folder's last checkpoint.")
@click.option("--smoke", is_flag=True, help="Every stage for a couple of steps on a tiny batch.")
def run(recipe: str, overrides: tuple[str, ...], output: Path | None, resume: bool, smoke: bool) -> None:
    """Train the recipe's model, stage by stage, into a run folder."""
    from gfc_kit import recipe as recipes
    from gfc_kit.training.trainer import Trainer, smoke_test

    loaded = recipes.load(recipe, overrides)
    if smoke:
        loaded, output = smoke_test(loaded, output)
    trainer = Trainer(loaded, output or loaded.output_dir, resume=resume)
    folder = trainer.run()
    if trainer.rt.main:  # under torchrun, one line for the run, not one per process
        click.echo(f"run finished: {folder}")


@cli.command()
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
    blender = _component("blender", blend, "--blend")
    refiner = _component("refiner", refine, "--refine")
    aligner = _component("aligner", align, "--align") if align is not None else None
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


def _component(kind: str, text: str, option: str) -> Any:
    """The ``kind`` component an option names (``name`` or ``name:key=value,...``)."""
    from gfc_kit.factory import create, parse_spec

    spec = parse_spec(text, option, kind)
    name = spec.pop("type")
    try:
        return create(kind, name, **spec)
    except GfcError as exc:
        hint = ("; aligners come from plugins, e.g. pip install plugins/gfc-align for dlib"
                if kind == "aligner" and "unknown aligner" in str(exc) else "")
        raise GfcError(f"{option} {text}: {exc}{hint}") from None


@cli.command()
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


@cli.command()
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
        pipeline = FullResolution(_component("blender", blend, "--blend"),
                                  {text: _component("refiner", text, "--refine") for text in refiners},
                                  _component("aligner", align, "--align") if align else None, crop)
        if metrics == ("psnr,psnr:region=hole,ssim,ssim:region=hole,l1,detail",):
            metrics = ("psnr,psnr:region=hole,ssim,ssim:region=hole,l1,detail:sigma=2",)
    report = evaluate_to_report(chosen_runs, data, masks, completers, metrics, parser_run, limit, image_size,
                                size_study, seed, batch_size, output, fid_weights, pipeline)
    click.echo(f"wrote {report}")


@cli.command()
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


@cli.command()
def models() -> None:
    """List the models of gfc-kit and installed plugins (for complete --model and evaluate --model)."""
    from gfc_kit.inference import read_model_json
    from gfc_kit.plugins import registry

    shipped = registry().models()
    if not shipped:
        click.echo("no models: none ships with this version or an installed plugin")
    for entry in shipped:
        if not (entry.folder / "model.json").is_file():
            click.echo(f"{entry.name}  missing: no model.json in {entry.folder} yet (train or export it there)  "
                       f"(from {entry.source})")
            continue
        try:
            meta = read_model_json(entry.folder)
        except GfcError as exc:
            click.echo(f"{entry.name}  unusable: {exc}  ({entry.source})")
            continue
        size = sum(f.stat().st_size for f in entry.folder.glob("*.safetensors")) / 2**20
        parts = "generator + parser" if "parser" in meta else "generator"
        layout = meta.get("face_layout", {"name": "celeba_crop"})
        kind = f"faces ({layout.get('name', '?')})" if isinstance(layout, dict) else "no face layout"
        click.echo(f"{entry.name}  {meta['image_size']}×{meta['image_size']}  {kind}  {parts}, "
                   f"{meta.get('weights_dtype', 'fp32')} {size:.1f} MiB  (recipe {meta.get('recipe', '?')}; "
                   f"from {entry.source}; {entry.folder})")


@cli.command()
@click.option("--kind", help="Only this kind (e.g. mask_sampler).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(kind: str | None, as_json: bool) -> None:
    """List every component: kind, name, where it comes from, and its parameters."""
    from gfc_kit.plugins import registry

    if kind is not None and kind not in registry().KINDS:
        raise GfcError(f"--kind {kind}: unknown kind; kinds are {', '.join(registry().KINDS)}")
    from gfc_kit.plugins import plugin_summaries

    entries = [e for e in registry() if kind in (None, e.kind)]
    for problem in registry().problems:
        click.echo(f"warning: {problem}", err=True)
    if as_json:
        rows = [{"kind": e.kind, "name": e.name, "source": e.source, "summary": e.summary,
                 "params": [{"name": p.name, "type": p.type, "required": p.required,
                             "default": None if p.required else _jsonable(p.default)} for p in e.params]}
                for e in entries]
        click.echo(json.dumps(rows, indent=2))
        return
    if kind is None:
        click.echo(click.style("plugins", bold=True))
        summaries = plugin_summaries()
        core = [p for p in summaries if p.source == "built-in" and not p.callbacks]
        click.echo(f"  gfc-kit  (built-in)  {sum(len(p.components) for p in core)} components; "
                   f"models: {', '.join(m for p in core for m in p.models) or 'none'}")
        for plugin in (p for p in summaries if p not in core):
            parts = [f"{len(plugin.components)} components" if plugin.components else "",
                     f"callbacks: {', '.join(plugin.callbacks)}" if plugin.callbacks else "",
                     f"commands: {', '.join(plugin.commands)}" if plugin.commands else "",
                     f"models: {', '.join(plugin.models)}" if plugin.models else ""]
            click.echo(f"  {plugin.name}  ({plugin.source})  " + ("; ".join(p for p in parts if p) or "nothing"))
    for k in [kind] if kind else registry().KINDS:
        click.echo(click.style(k, bold=True))
        of_kind = [e for e in entries if e.kind == k]
        if not of_kind:
            click.echo("  (none registered)")
        for e in of_kind:
            click.echo(f"  {e.name}  ({e.source})  {e.summary}")
            for p in e.params:
                default = "required" if p.required else f"= {_jsonable(p.default)}"
                click.echo(f"      {p.name}: {p.type} {default}")


def _jsonable(value: Any) -> Any:
    """A default as it would be written in a recipe."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


@cli.group(cls=_Group)
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

    if output.is_dir() or output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise GfcError(f"--output {output}: give a picture's file name ending in .png or .jpg")
    if any(parent.is_file() for parent in output.parents):
        raise GfcError(f"--output {output}: a folder on its path is a file")
    path = save_preview(recipes.load(recipe, overrides), output, count)
    click.echo(f"wrote {path}")


def add_plugin_commands(group: click.Group) -> None:
    """Let installed plugins add subcommands (the ``gfc_register_commands`` hook), once; a plugin's
    command may not replace a built-in one. With no plugin installed nothing is imported, so
    ``gfc-kit --help`` stays fast."""
    from gfc_kit.plugins import hooks, installed_entry_points

    if not installed_entry_points():
        return

    from gfc_kit.plugins import commands_of

    builtin = set(group.commands)
    for impl in hooks().gfc_register_commands.get_hookimpls():
        staging = click.Group()
        try:
            impl.function(*(staging for _ in impl.argnames))
        except Exception as exc:  # one plugin's broken hook must not take every command down
            click.echo(f"warning: plugin {impl.plugin_name!r} failed to add its commands: "
                       f"{type(exc).__name__}: {exc}", err=True)
            continue
        for name, command in staging.commands.items():
            if name in builtin:
                click.echo(f"warning: plugin {impl.plugin_name!r}: its command {name!r} clashes with gfc-kit's "
                           "own; ignored", err=True)
                continue
            group.add_command(command, name)
            commands_of.setdefault(impl.plugin_name, []).append(name)


def main() -> None:
    try:
        add_plugin_commands(cli)
    except GfcError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    cli(prog_name="gfc-kit")


from gfc_kit.commands.serve import serve  # noqa: E402  (a command of its own module, added last)
cli.add_command(serve)


if __name__ == "__main__":
    main()
