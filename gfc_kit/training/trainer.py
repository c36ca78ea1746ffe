"""The trainer: the paper's staged training (DESIGN.md section 7), driven by a recipe.

It runs the recipe's stages over the run's assembled parts (:mod:`gfc_kit.training.parts`): each
stage object (:mod:`gfc_kit.training.stages`) owns what one step does, and the trainer owns the
rest of a run: batches, learning rates, logged rows, validation, checkpoints, lifecycle hooks and
callbacks, a stop asked for by a callback, and the final export and report. It tests no stage
name. Everything random in a step (masks, hole noise, dropout) is drawn from a generator seeded
by ``(seed, step)`` and batches are a function of ``(seed, step)`` too, so ``--resume`` continues
exactly where an uninterrupted run would be.

Hooks and callbacks see the trainer as a :class:`gfc_kit.interfaces.Run`.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from gfc_kit.interfaces import Validation
from gfc_kit.plugins import hooks
from gfc_kit.recipe import Recipe
from gfc_kit.training import checkpoint
from gfc_kit.training.batches import StepBatches, loader, step_generator, to_device
from gfc_kit.training.callbacks import attached, run_callbacks
from gfc_kit.training.export import export_run
from gfc_kit.training.parts import RunParts, assemble
from gfc_kit.training.run_folder import RunFolder
from gfc_kit.training.runtime import start, stop
from gfc_kit.training.stages import NonFiniteLoss
from gfc_kit.training.validation import Validator

log = logging.getLogger("gfc_kit.train")

__all__ = ["NonFiniteLoss", "Trainer"]


class Trainer:
    """Builds and checks a recipe's parts and callbacks, then trains them stage by stage into ``output``."""

    def __init__(self, recipe: Recipe, output: Path, resume: bool | None = None) -> None:
        """:param resume: whether :meth:`run` continues the run in ``output`` (checked now), or
            ``None`` to say so later, in :meth:`run`."""
        self.recipe = recipe
        self.output = Path(output)
        self.resume = resume
        self.rt = start(recipe.train.device, recipe.train.precision)
        self.folder = RunFolder(self.output, recipe)
        self.folder.check(resume, self.rt.main)
        self.callbacks: dict[str, Any] = run_callbacks(recipe)
        """The callbacks of this run by name, built now on every process (so a bad parameter fails
        now, everywhere) and attached in the main one only."""
        self.parts: RunParts = assemble(recipe, self.rt)
        self.validator = Validator(self.parts)
        self.position = (0, 0)
        """The stage index and the step within it that the run is at."""
        self.stop_reason: str | None = None

    # ----------------------------------------------------------------------------- the Run interface
    @property
    def modules(self) -> dict[str, torch.nn.Module]:
        return self.parts.modules

    @property
    def parser_trained(self) -> bool:
        return self.parts.parser_trained

    @property
    def global_step(self) -> int:
        index, step = self.position
        return sum(s.steps for s in self.recipe.stages[:index]) + step

    def validation(self) -> Validation:
        """The fixed validation batch completed by the generator as it is now (once per step)."""
        return self.validator.complete(self.global_step)

    def validation_batch(self) -> dict[str, Any]:
        return self.validator.batch()

    def parse(self, images: torch.Tensor) -> torch.Tensor:
        return self.validator.parse(images)

    def stop(self, reason: str) -> None:
        """Stop after the current step (see :class:`gfc_kit.interfaces.Run`); the first reason counts."""
        if self.stop_reason is None:
            self.stop_reason = str(reason)

    # ----------------------------------------------------------------------------- running
    def run(self, resume: bool | None = None) -> Path:
        """Train every stage (continuing from the last checkpoint when resuming) until the last
        step or a stop, then export and report; return the run folder."""
        if resume is not None and resume != self.resume or self.resume is None:
            self.resume = bool(resume)
            self.folder.check(self.resume, self.rt.main)
        try:
            with attached(self.callbacks if self.rt.main else {}):
                first_stage, first_step = self._prepare()
                for index in range(first_stage, len(self.recipe.stages)):
                    if not self._run_stage(index, first_step if index == first_stage else 0):
                        break
                if self.rt.main:
                    export_run(self.parts, self.output)
                    self._report()
            return self.output
        finally:
            stop(self.rt)

    def _prepare(self) -> tuple[int, int]:
        """Where the run starts: the beginning of a new folder, or the last checkpoint."""
        if self.resume:
            parts = self.parts
            stage, step, state = self.folder.resume(parts.modules, parts.optimizers, parts.scalers, self.rt)
            self.stop_reason = state.get("stopped")
            return stage, step
        if self.rt.main:
            self.folder.start()
        return 0, 0

    def _run_stage(self, index: int, first: int) -> bool:
        """Steps ``first + 1 ..`` of stage ``index``; ``False`` when the run was asked to stop."""
        spec, stage = self.recipe.stages[index], self.parts.stages[index]
        offset = sum(s.steps for s in self.recipe.stages[:index])
        data, train = self.parts.stage_data(index), self.recipe.train
        batches = StepBatches(len(data), train.batch_size, self.recipe.seed, offset + first, offset + spec.steps,
                              self.rt.rank, self.rt.world)
        log.info("stage %d/%d %s: %d steps (%s)", index + 1, len(self.recipe.stages), spec.name, spec.steps,
                 ", ".join(spec.losses) or spec.train.type)
        self.enter_stage(index)
        self.position = (index, first)
        self._notify("gfc_stage_start", stage=spec, index=index)
        images, clock = 0, time.perf_counter()
        for step, batch in enumerate(loader(data, batches, train.num_workers, self.recipe.seed), start=first + 1):
            global_step = offset + step
            torch.manual_seed(self.recipe.seed * 1_000_003 + global_step)  # dropout, augmentation
            if spec.lr_decay != "none":
                self.set_lr(index, step - 1)
            try:
                values = stage.step(self.parts, spec, to_device(batch, self.rt.device),
                                    step_generator(self.recipe.seed, global_step))
            except NonFiniteLoss as exc:
                saved = self._checkpoint(index, step - 1, global_step - 1, tag="nonfinite")
                raise NonFiniteLoss(f"stage {spec.name} step {step}: {exc} (weights as they are now saved in "
                                    f"{saved}; --resume continues from the last regular checkpoint). "
                                    "Try a lower learning rate or fp32.") from None
            self.position = (index, step)
            images += len(batch["image"]) * self.rt.world
            last = step == spec.steps
            if step % train.log_every == 0 or last:
                rate = images / (time.perf_counter() - clock)
                self._record({"stage": spec.name, "step": step, "global_step": global_step,
                              **{k: float(v) for k, v in values.items()}, "images_per_s": round(rate, 2)})
            if step % train.sample_every == 0 or last:
                self._record({"stage": spec.name, "step": step, "global_step": global_step, "split": "val",
                              **(stage.validate(self) if self.rt.main else {})})
            stopping = self.rt.any(self.stop_reason is not None)
            if step % train.checkpoint_every == 0 or last or stopping:
                self._checkpoint(index, step, global_step)
            if stopping:
                log.info("stopped at stage %s step %d: %s", spec.name, step, self.stop_reason or "asked by rank 0")
                break
        self._notify("gfc_stage_end", stage=spec, index=index)
        return self.stop_reason is None

    def enter_stage(self, index: int) -> None:
        """Set up the networks for stage ``index`` (its object's ``enter``) and its learning rate
        (set at every stage start, so a resume agrees)."""
        self.parts.stages[index].enter(self.parts, self.recipe.stages[index])
        self.set_lr(index, 0)

    def set_lr(self, index: int, step: int) -> None:
        """The learning rate of what stage ``index`` trains, before its step ``step + 1`` (a
        function of the step, so a resumed run agrees)."""
        spec, trains = self.recipe.stages[index], self.parts.stages[index].trains
        lr = spec.lr or getattr(self.recipe.optim, trains).lr
        if spec.lr_decay == "cosine" and spec.steps:
            lr *= 0.5 * (1 + math.cos(math.pi * step / spec.steps))
        for group in self.parts.optimizers[trains].param_groups:
            group["lr"] = lr

    # ----------------------------------------------------------------------------- records
    def _notify(self, hook: str, **kwargs: Any) -> None:
        """Call a lifecycle hook, by keyword (main process only)."""
        if self.rt.main:
            getattr(hooks(), hook)(run=self, **kwargs)

    def _record(self, row: dict[str, Any]) -> None:
        self._notify("gfc_row_logged", row=row)

    def _checkpoint(self, index: int, step: int, global_step: int, tag: str | None = None) -> Path | None:
        if not self.rt.main:
            return None
        state = {"stage": index, "step": step, "global_step": global_step,
                 **({"stopped": self.stop_reason} if self.stop_reason else {})}
        parts = self.parts
        path = checkpoint.save(self.folder.checkpoints, tag or f"{global_step:08d}", parts.modules, parts.optimizers,
                               state, scalers=parts.scalers, resume_point=tag is None)
        self._notify("gfc_checkpoint_saved", path=path)
        return path

    def _report(self) -> None:
        """``report.md`` in the run folder: the trained generator on ``data.val`` under each of
        ``masks.eval`` (skipped without either, or with ``train.report_images: 0``)."""
        from gfc_kit.training.run_report import write_run_report

        folder = write_run_report(self.parts, self.output)
        if folder is not None:
            self._notify("gfc_report_written", folder=folder)
