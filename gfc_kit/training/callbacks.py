"""The built-in lifecycle callbacks: the metrics log, the sample grids and the progress display.

Each is a plugin of the lifecycle hooks (:mod:`gfc_kit.hookspecs`), registered under the name in
:data:`gfc_kit.plugins.BUILTIN_CALLBACKS`, exactly as a third-party logger would be; block one
with ``GFC_KIT_BLOCK=<name>`` to replace it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from gfc_kit.hookspecs import hookimpl
from gfc_kit.imaging import colorize, save_grid
from gfc_kit.training.progress import StageProgress

if TYPE_CHECKING:
    from gfc_kit.recipe import Stage
    from gfc_kit.training.trainer import Trainer

SAMPLES = 8
"""Images in a sample grid."""

METRICS_FILE = "metrics.jsonl"


class MetricsLog:
    """Every logged row, one JSON object a line, in ``<run>/metrics.jsonl``."""

    @hookimpl
    def gfc_row_logged(self, run: Trainer, row: dict[str, Any]) -> None:
        with (run.output / METRICS_FILE).open("a") as f:
            f.write(json.dumps(row) + "\n")


class SampleGrids:
    """At every validation row, a grid of the fixed validation batch in ``<run>/samples/``: rows of
    the noise-filled input, the output, the composite, the original, and the parser's labels on the
    composite when the run has a trained parser."""

    @hookimpl
    def gfc_row_logged(self, run: Trainer, row: dict[str, Any]) -> None:
        if row.get("split") != "val":
            return
        v = run.validation()
        rows = [t[:SAMPLES] for t in (v.masked, v.output, v.composite, v.image)]
        if run.parser_trained:
            rows.append(colorize(run.parse(v.composite[:SAMPLES])))
        index, _ = run.position
        name = f"stage{index + 1}_{row['stage']}_step{row['step']:06d}.png"
        save_grid(rows, run.output / "samples" / name)


class ProgressDisplay:
    """A live bar per stage on a terminal (step, losses, images/s, ETA), plain lines otherwise."""

    def __init__(self) -> None:
        self.bar: StageProgress | None = None

    @hookimpl
    def gfc_stage_start(self, run: Trainer, stage: Stage, index: int) -> None:
        if self.bar is not None:  # a stage that stopped on an error never reached gfc_stage_end
            self.bar.close()
        label = f"stage {index + 1}/{len(run.recipe.stages)} {stage.name}"
        self.bar = StageProgress(label, run.position[1], stage.steps, run.recipe.train.log_every)

    @hookimpl
    def gfc_row_logged(self, run: Trainer, row: dict[str, Any]) -> None:
        if self.bar is not None and "images_per_s" in row:
            numbers = {k: v for k, v in row.items() if k not in ("stage", "step", "global_step", "images_per_s")}
            self.bar.update(row["step"], numbers, row["images_per_s"])

    @hookimpl
    def gfc_stage_end(self, run: Trainer, stage: Stage, index: int) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
