"""The run folder: checked before any work (writable, no other run in it unless resuming one with
the same recipe), started (``recipe.yaml``, an empty ``metrics.jsonl``), and read back on
``--resume`` (the last checkpoint, and ``metrics.jsonl`` trimmed to it)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gfc_kit.errors import GfcError
from gfc_kit.outputs import output_folder
from gfc_kit.recipe import Recipe, dump
from gfc_kit.training import checkpoint
from gfc_kit.training.runtime import Runtime

log = logging.getLogger("gfc_kit.train")

CHECKPOINTS = "checkpoints"
METRICS_FILE = "metrics.jsonl"


@dataclass(frozen=True)
class RunFolder:
    """Where a run writes, as it relates to ``recipe``."""

    path: Path
    recipe: Recipe

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    def check(self, resume: bool | None, main: bool) -> None:
        """The folder can be written, and holds no run unless resuming one with the same recipe
        (``resume=None``: only that it is not a file; the rest is checked when it is known)."""
        out, has_checkpoint = self.path, (self.checkpoints / checkpoint.LAST).is_file()
        if out.exists() and not out.is_dir():
            raise GfcError(f"output: {out} is a file, not a folder; choose another with --output")
        if resume is None:
            return
        if resume and not has_checkpoint:
            raise GfcError(f"{out}: nothing to resume (no checkpoint); run without --resume")
        if not resume and has_checkpoint:
            raise GfcError(f"{out}: this run folder already has checkpoints; continue it with --resume "
                           "or choose another folder with --output")
        recipe_file = out / "recipe.yaml"
        if resume and recipe_file.is_file() and recipe_file.read_text() != dump(self.recipe):
            raise GfcError(f"{recipe_file}: the run was started with a different recipe; "
                           "resume with the same recipe and --set values, or start a new run with --output")
        if main:
            output_folder(out)  # a file on its path, no permission: one line, before any data is read

    def start(self) -> None:
        """A new run: the resolved recipe, and an empty metrics log."""
        (self.path / "recipe.yaml").write_text(dump(self.recipe))
        self.metrics.write_text("")

    def resume(self, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               scalers: dict[str, torch.amp.GradScaler], rt: Runtime) -> tuple[int, int, dict[str, Any]]:
        """Load the last checkpoint into ``modules``, ``optimizers`` and ``scalers``; return the
        stage index and step to continue from (past the end for a run that finished or was
        stopped) and the checkpoint's run state. Rows logged after it are dropped: they come again."""
        state = checkpoint.load(self.checkpoints, modules, optimizers, scalers)
        stages = self.recipe.stages
        stage, step = state["stage"], state["step"]
        if not 0 <= stage < len(stages) or step < 0:
            raise GfcError(f"{self.checkpoints / checkpoint.LAST}: stage {stage} step {step} is not a point in the "
                           f"recipe's {len(stages)} stages; resume with the run's own recipe")
        if rt.main and self.metrics.is_file():
            rows = [line for line in self.metrics.read_text().splitlines()
                    if row_step(line) is not None and row_step(line) <= state["global_step"]]
            self.metrics.write_text("".join(row + "\n" for row in rows))
        if state.get("stopped"):
            log.info("%s stopped at stage %d step %d (%s): nothing more to train", self.path, stage, step,
                     state["stopped"])
            return len(stages), 0, state
        log.info("resuming %s at stage %d step %d", self.path, stage, step)
        if step >= stages[stage].steps:
            stage, step = stage + 1, 0
        return stage, step, state


def row_step(line: str) -> int | None:
    """A metrics.jsonl line's global step; ``None`` for a line a killed run left half-written."""
    try:
        return int(json.loads(line).get("global_step", 0))
    except (ValueError, AttributeError, TypeError):
        return None
