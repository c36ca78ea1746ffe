"""``gfc-kit evaluate``: turn command-line choices into an :class:`~gfc_kit.evaluation.Evaluator`,
run it (plus the mask-size study) and write the report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gfc_kit.inference import ModelCompleter, RunParser
from gfc_kit.errors import GfcError
from gfc_kit.commands.specs import data_spec, mask_spec, parse_spec, split_specs
from gfc_kit.evaluation.evaluator import SIZE_STUDY, Evaluator, FrechetDistance, summarize
from gfc_kit.factory import build
from gfc_kit.plugins import hooks
from gfc_kit.evaluation.report import write_report
from gfc_kit.training.progress import StageProgress

log = logging.getLogger("gfc_kit.evaluate")


@dataclass
class FullResolution:
    """``--full-resolution``: how each run completes a photo at its own size (the photo pipeline's
    parts, as ``gfc-kit complete`` takes them); one completer per refiner."""

    blender: Any
    refiners: dict[str, Any]
    aligner: Any = None
    crop: str = "auto"

    def completers(self, runs: dict[str, ModelCompleter]) -> dict[str, Any]:
        from gfc_kit.evaluation.full_resolution import PipelineCompleter
        from gfc_kit.inference import PhotoCompleter

        return {name + (f"+{label}" if len(self.refiners) > 1 else ""):
                PipelineCompleter(PhotoCompleter(model, self.blender, self.aligner, crop=self.crop, refiner=refiner))
                for name, model in runs.items() for label, refiner in self.refiners.items()}


def run_completers(runs: tuple[Path, ...]) -> dict[str, ModelCompleter]:
    """Each run's completer, named by its folder (made unique when two share a name)."""
    completers: dict[str, ModelCompleter] = {}
    for run in runs:
        name = run.resolve().name
        while name in completers:
            name = f"{run.resolve().parent.name}/{name}"
        completers[name] = ModelCompleter.from_run(run)
    return completers


def choose_parser(parser_run: str, runs: tuple[Path, ...]) -> tuple[RunParser | None, str]:
    """The parser for the parsing score and a note saying where it came from."""
    if parser_run == "none":
        return None, "Parsing score: not computed (--parser none)."
    if parser_run != "auto":
        return RunParser.from_run(Path(parser_run)), f"Parsing score: the parser of {parser_run}."
    for run in runs:
        try:
            return RunParser.from_run(run), f"Parsing score: the parser of {run} (trained with that run)."
        except GfcError:
            continue
    return None, "Parsing score: not computed (no run with an exported parser; give --parser RUN)."


def run_with_progress(evaluator: Evaluator, label: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``evaluator.run()`` with a progress bar (log lines when not on a terminal)."""
    with StageProgress(label, 0, evaluator.count, evaluator.batch_size) as progress:
        done, started = [0], time.perf_counter()

        def advance(n: int) -> None:
            done[0] += n
            progress.update(done[0], {}, done[0] / (time.perf_counter() - started))

        return evaluator.run(advance)


def evaluate_to_report(runs: tuple[Path, ...], data: str, masks: tuple[str, ...], completers: tuple[str, ...],
                       metrics: tuple[str, ...], parser_run: str, limit: int, image_size: int, size_study: bool,
                       seed: int, batch_size: int, output: Path, fid_weights: Path | None = None,
                       full_resolution: FullResolution | None = None) -> Path:
    """Everything ``gfc-kit evaluate`` does; returns the path of ``report.md``."""
    from gfc_kit.evaluation import full_resolution as full
    from gfc_kit.outputs import output_folder

    output_folder(output)  # before any image is completed

    samplers: dict[str, Any] = {}
    if full_resolution is None:
        dataset_spec: Any = data_spec(data)
        dataset = build("dataset", dataset_spec, ("--data",), image_size=image_size)
        for text in split_specs(masks):
            name, spec = mask_spec(text)
            samplers[name] = build("mask_sampler", spec, ("--masks",), image_size=image_size)
        chosen: dict[str, Any] = run_completers(runs)
    else:
        dataset_spec = f"{data} (each photo at its own size)"
        dataset = full.PhotoFolder(Path(data), limit)
        faces: dict[str, list] = {}
        for text in split_specs(masks):
            name, spec = mask_spec(text)
            if spec["type"] == "regions":  # the paper's face regions, placed on the face the aligner finds
                if full_resolution.aligner is None:
                    raise GfcError(f"--masks {text}: at full resolution a face region is placed on the face that "
                                   "--align finds; give --align (e.g. dlib)")
                samplers[name] = full.OnFace(spec["region"], full_resolution.aligner, faces)
                continue
            build("mask_sampler", spec, ("--masks",), image_size=image_size)  # a bad spec fails now, not per photo
            sized = lambda side, spec=spec: build("mask_sampler", spec, ("--masks",), image_size=side)  # noqa: E731
            # with an aligner every hole goes on the face the model completes; else anywhere in the photo
            samplers[name] = (full.OnFace(name, full_resolution.aligner, faces, sized) if full_resolution.aligner
                              else full.AtPhotoSize(sized))
        chosen = full_resolution.completers(run_completers(runs))
        size_study, parser_run, batch_size = False, "none", 1
    notes = []
    if not completers:
        completers = ("telea,navier_stokes,mean_fill",)
    for text in split_specs(completers):
        if text != "none":
            spec = parse_spec(text, "--completers", "completer")
            chosen[spec["type"]] = build("completer", spec, ("--completers",))
    if not chosen:
        raise GfcError("nothing to evaluate: give --run RUN_DIR and/or --completers")
    scorers = [build("metric", parse_spec(t, "--metrics", "metric"), ("--metrics",)) for t in split_specs(metrics)]
    parser, parser_note = choose_parser(parser_run, runs)
    fid = FrechetDistance(fid_weights) if fid_weights is not None else None
    evaluator = Evaluator(dataset, samplers, chosen, scorers, parser, seed, limit, batch_size, fid=fid,
                          shown=full.thumbnail if full_resolution is not None else None)
    count = evaluator.count
    rows, examples = run_with_progress(evaluator, "evaluate (images)")
    summary = summarize(rows)
    if fid is not None:
        distances = fid.compute()
        for row in summary:
            row["fid"] = distances[(row["completer"], row["mask"])]
    size_summary = None
    if size_study:
        sizes = {f"center_{round(f * image_size)}": build("mask_sampler", {"type": "center", "size": f}, ("size",),
                                                        image_size=image_size) for f in SIZE_STUDY}
        study = Evaluator(dataset, sizes, chosen, [s for s in scorers if s.name in ("psnr_hole", "ssim", "l1_hole")]
                          or scorers, None, seed, limit, batch_size, examples=0)
        size_summary = summarize(run_with_progress(study, "mask-size study (images)")[0])
    config: dict[str, Any] = {
        "data": f"`{dataset_spec}`, {count} images" + (f" at {image_size}×{image_size}" if full_resolution is None else ""),
        "masks": ", ".join(f"`{n}`" for n in samplers),
        "completers": ", ".join(f"`{n}`" for n in chosen),
        "seed": f"{seed} (image–hole pairs are fixed by seed, mask name and image index)",
        "runs": ", ".join(f"`{r}`" for r in runs) or "none",
    }
    if not any(s.name == "lpips" for s in scorers):
        notes.append("LPIPS: not computed; add `--metrics lpips:weights=PATH` with a local torchvision AlexNet "
                     "state dict (it is never computed with random weights).")
    notes += [parser_note,
              "FID: " + (f"Inception features from {fid_weights}, {count} completions against the {count} originals "
                         "per row (a small sample: compare rows, not papers)." if fid is not None else
                         "not computed; give --fid-weights with a local pt_inception-2015-12-05 weights file.")]
    report = write_report(output, "gfc-kit evaluation", config, rows, summary, examples, size_summary, notes)
    hooks().gfc_report_written(folder=output, run=None)
    return report
