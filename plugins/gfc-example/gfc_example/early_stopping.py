"""A callback as a plugin: stop a run when a validation number stops improving.

Configured from the recipe (``callbacks: {early_stopping: {patience: 2}}``); its keys are checked
by ``gfc-kit recipe check`` as a component's are. At each validation row of a watched stage it
compares ``metric`` with the best so far; after ``patience`` rows without an improvement of at
least ``min_delta`` it calls ``run.stop(reason)``: the run then ends after that step with its
final checkpoint, export and report, and ``--resume`` trains no further. The count starts again
at each stage (an adversarial stage first raises the hole error a reconstruction stage lowered).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

import gfc_kit


class EarlyStopping:
    """Stops the run when a validation number has not improved for ``patience`` validations."""

    def __init__(self, metric: str = "val_hole_l1", patience: Annotated[int, Field(ge=1)] = 3,
                 min_delta: Annotated[float, Field(ge=0)] = 0.0, mode: Literal["min", "max"] = "min",
                 stages: list[str] = []) -> None:  # noqa: B006 (pydantic copies it)
        self.metric, self.patience, self.min_delta, self.mode = metric, patience, min_delta, mode
        self.stages = set(stages)
        self.best: float | None = None
        self.waited = 0

    @gfc_kit.hookimpl
    def gfc_stage_start(self, run, stage, index):
        self.best, self.waited = None, 0

    @gfc_kit.hookimpl
    def gfc_row_logged(self, run, row):
        if self.metric not in row or (self.stages and row["stage"] not in self.stages):
            return
        value = row[self.metric] if self.mode == "min" else -row[self.metric]
        if self.best is None or value < self.best - self.min_delta:
            self.best, self.waited = value, 0
            return
        self.waited += 1
        if self.waited >= self.patience:
            best = self.best if self.mode == "min" else -self.best
            run.stop(f"early_stopping: {self.metric} has not improved on {best:.4g} for {self.waited} validations")
