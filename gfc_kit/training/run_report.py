"""The report at the end of a run: the trained generator on ``data.val`` under each of
``masks.eval`` (the paper's O1–O6 for its recipe), written as ``gfc-kit evaluate`` writes one."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from gfc_kit.factory import build


if TYPE_CHECKING:
    from gfc_kit.training.parts import RunParts

log = logging.getLogger("gfc_kit.train")


def write_run_report(run: RunParts, folder: Path) -> Path | None:
    """Write ``folder/report.md`` (and its tables and pictures) for the run's generator as it is
    now; ``None`` when the recipe asks for none."""
    from gfc_kit.inference import ModelCompleter
    from gfc_kit.evaluation.evaluator import Evaluator, summarize
    from gfc_kit.evaluation.report import write_report

    recipe = run.recipe
    if not recipe.masks.eval or "val" not in run.datasets or recipe.train.report_images == 0:
        log.info("no end-of-run report (it needs masks.eval, data.val and train.report_images > 0)")
        return None
    size, masks = recipe.image_size, run.eval_masks
    completer = ModelCompleter(run.generator, size, recipe.train.hole_fill, recipe.seed, device=run.rt.device)
    metrics = [build("metric", {"type": t, **p}, ("metrics",)) for t, p in
               (("psnr", {"region": "hole"}), ("l1", {"region": "hole"}), ("ssim", {}))]
    evaluator = Evaluator(run.datasets["val"], masks, {recipe.name: completer}, metrics, None, recipe.seed,
                          recipe.train.report_images, recipe.train.batch_size)
    was_training = run.generator.training
    try:
        rows, examples = evaluator.run()
    finally:
        run.generator.train(was_training)
    config = {"data": f"data.val ({recipe.data.val.type}), {evaluator.count} images at {size}×{size}",
              "masks": ", ".join(f"`{n}`" for n in masks), "run": f"`{folder}`"}
    notes = ["Written at the end of training from the recipe's masks.eval; compare with classical "
             "completers and other runs with gfc-kit evaluate."]
    return write_report(folder, f"{recipe.name}: end-of-run evaluation", config, rows, summarize(rows), examples,
                        None, notes).parent

