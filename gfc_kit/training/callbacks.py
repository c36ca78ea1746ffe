"""Callbacks (kind ``callback``) and the built-in ones: the metrics log, the sample grids and the
progress display.

A callback is a class whose methods implement lifecycle hooks (:mod:`gfc_kit.hookspecs`), marked
with ``hookimpl``; its keyword parameters are recipe keys under ``callbacks.NAME``, checked as a
component's are. One with ``enabled_by_default = True`` runs in every run unless the recipe says
``callbacks: {NAME: false}`` (or ``GFC_KIT_BLOCK`` names it); any other runs when the recipe lists
it. The trainer builds the run's callbacks before the first step and attaches them to the hooks
for the run only, so a plugin's callbacks can be turned off while its components stay.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from gfc_kit.factory import build
from gfc_kit.hookspecs import hookimpl
from gfc_kit.imaging import colorize, save_grid
from gfc_kit.interfaces import Run
from gfc_kit.plugins import blocked, plugin_manager, registry
from gfc_kit.training.progress import StageProgress
from gfc_kit.training.run_folder import METRICS_FILE

if TYPE_CHECKING:
    from gfc_kit.recipe import Recipe, Stage
    from gfc_kit.registry import Registry

SAMPLES = 8
"""Images in a sample grid."""


class MetricsLog:
    """Every logged row, one JSON object a line, in ``<run>/metrics.jsonl``."""

    enabled_by_default: ClassVar[bool] = True

    @hookimpl
    def gfc_row_logged(self, run: Run, row: dict[str, Any]) -> None:
        with (run.output / METRICS_FILE).open("a") as f:
            f.write(json.dumps(row) + "\n")


class SampleGrids:
    """At every validation row, a grid of the fixed validation batch in ``<run>/samples/``: rows of
    the noise-filled input, the output, the composite, the original, and the parser's labels on the
    composite when the run has a trained parser."""

    enabled_by_default: ClassVar[bool] = True

    @hookimpl
    def gfc_row_logged(self, run: Run, row: dict[str, Any]) -> None:
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

    enabled_by_default: ClassVar[bool] = True

    def __init__(self) -> None:
        self.bar: StageProgress | None = None

    @hookimpl
    def gfc_stage_start(self, run: Run, stage: Stage, index: int) -> None:
        if self.bar is not None:  # a stage that stopped on an error never reached gfc_stage_end
            self.bar.close()
        label = f"stage {index + 1}/{len(run.recipe.stages)} {stage.name}"
        self.bar = StageProgress(label, run.position[1], stage.steps, run.recipe.train.log_every)

    @hookimpl
    def gfc_row_logged(self, run: Run, row: dict[str, Any]) -> None:
        if self.bar is not None and "images_per_s" in row:
            numbers = {k: v for k, v in row.items() if k not in ("stage", "step", "global_step", "images_per_s")}
            self.bar.update(row["step"], numbers, row["images_per_s"])

    @hookimpl
    def gfc_stage_end(self, run: Run, stage: Stage, index: int) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_callbacks(recipe: Recipe) -> dict[str, Any]:
    """The callbacks a run of ``recipe`` attaches, by name, built with their recipe parameters."""
    wanted = {entry.name: None for entry in registry()
              if entry.kind == "callback" and getattr(entry.factory, "enabled_by_default", False)}
    wanted.update(recipe.callbacks)
    return {name: build("callback", spec.entry if spec else {"type": name}, ("callbacks", name))
            for name, spec in wanted.items()
            if (spec is None or spec.enabled) and name not in blocked(os.environ)}


@contextlib.contextmanager
def attached(callbacks: dict[str, Any]) -> Iterator[None]:
    """The ``callbacks`` receive the lifecycle hooks within the block (named ``callback:NAME``)."""
    pm = plugin_manager()
    names = [f"callback:{name}" for name in callbacks]
    for name, callback in zip(names, callbacks.values()):
        pm.register(callback, name=name)
    try:
        yield
    finally:
        for name in names:
            pm.unregister(name=name)


@hookimpl
def gfc_register(registry: Registry) -> None:
    registry.add("callback", "metrics_log", MetricsLog)
    registry.add("callback", "sample_grids", SampleGrids)
    registry.add("callback", "progress", ProgressDisplay)
