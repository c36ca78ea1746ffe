"""The trainer: the paper's staged training (DESIGN.md section 7), driven by a recipe.

A recipe lists stages; each trains either the parser (``train: parser``, on labelled faces) or
the generator with the losses it names. Per generator iteration: one discriminator step, then one
generator step, as in the released code. Gradient routing follows the paper: the local
adversarial and parsing terms see the *composite* (generated hole, real surroundings), so their
gradients reach the generator only inside the hole; the global adversarial term sees the whole
generated image (``train.global_input: output``), so its gradient reaches every pixel.

Everything random in a step (masks, hole noise, dropout) is drawn from a generator seeded by
``(seed, step)`` and batches are a function of ``(seed, step)`` too, so ``--resume`` continues
exactly where an uninterrupted run would be.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, default_collate
from torchvision.ops import roi_align

from gfc_kit.components.metrics import L1
from gfc_kit.errors import GfcError
from gfc_kit.factory import build, create
from gfc_kit.imaging import colorize, save_grid
from gfc_kit.interfaces import composite, fill_hole
from gfc_kit.recipe import Recipe, Stage, dump
from gfc_kit.training import checkpoint
from gfc_kit.training.batches import StepBatches, loader, step_generator, to_device
from gfc_kit.training.progress import StageProgress
from gfc_kit.training.runtime import Runtime, start, stop

log = logging.getLogger("gfc_kit.train")

ADVERSARIAL = ("local_adversarial", "global_adversarial")
PARSING = "parsing"
SAMPLES = 8
"""Images in a sample grid."""
VALIDATION = 64
"""Validation images behind val_hole_l1 (the grid's 8 first): enough for a steady number."""
SMOKE_MARK = ".smoke"
CHECKPOINTS = "checkpoints"


class NonFiniteLoss(GfcError):
    """A loss became NaN or infinite; a checkpoint was written first."""


class Trainer:
    """Builds a recipe's components and trains them stage by stage into ``output``."""

    def __init__(self, recipe: Recipe, output: Path) -> None:
        self.recipe = recipe
        self.output = output
        self.rt: Runtime = start(recipe.train.device, recipe.train.precision)
        torch.manual_seed(recipe.seed)  # the same initial weights on every rank and every run
        size = recipe.image_size
        self.sampler = build("mask_sampler", recipe.masks.train.model_dump(), ("masks", "train"), image_size=size)
        self.modules = self._build_modules()
        self.losses = {role: build("loss", spec.model_dump(exclude={"weight"}), ("losses", role))
                       for role, spec in recipe.losses.items()}
        self.parser_loss = self.losses.get(PARSING) or create("loss", "parsing_ce")  # for the parser stage
        self.optimizers = self._build_optimizers()
        self.scalers = {name: self.rt.scaler() for name in self.optimizers}
        self.generator = self.modules["generator"]
        self.trained_generator = self.generator
        if self.rt.world > 1:
            self.trained_generator = DistributedDataParallel(self.generator)
        self._datasets: dict[str, Dataset] = {}
        self._fixed_batch: dict[str, Any] | None = None

    # ----------------------------------------------------------------------------- building
    def _build_modules(self) -> dict[str, torch.nn.Module]:
        model, size = self.recipe.model, self.recipe.image_size
        modules = {}
        memory = torch.channels_last if self.recipe.train.channels_last else torch.contiguous_format
        for name in ("generator", "local_discriminator", "global_discriminator", "parser"):
            spec = getattr(model, name)
            if spec is not None:
                kind = "discriminator" if name.endswith("discriminator") else name
                module = build(kind, spec.model_dump(), ("model", name), image_size=size)
                modules[name] = module.to(self.rt.device, memory_format=memory)
        if "generator" not in modules:
            raise GfcError("model.generator: a run needs a generator")
        needs = {"local_adversarial": "local_discriminator", "global_adversarial": "global_discriminator",
                 PARSING: "parser"}
        for stage_index, stage in enumerate(self.recipe.stages):
            for role in stage.losses:
                if role in needs and needs[role] not in modules:
                    raise GfcError(f"stages.{stage_index}.losses: {role} needs model.{needs[role]}")
            if stage.train == "parser" and "parser" not in modules:
                raise GfcError(f"stages.{stage_index}: a parser stage needs model.parser")
        if self.recipe.model.parser_weights is not None and "parser" in modules:
            modules["parser"].load_state_dict(checkpoint.load_weights(self.recipe.model.parser_weights, "parser"))
        return modules

    def _build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optim = self.recipe.optim
        groups = {
            "generator": (list(self.modules["generator"].parameters()), optim.generator),
            "discriminator": ([p for n in ("local_discriminator", "global_discriminator") if n in self.modules
                               for p in self.modules[n].parameters()], optim.discriminator),
            "parser": (list(self.modules["parser"].parameters()) if "parser" in self.modules else [], optim.parser),
        }
        fused = self.rt.device.type in ("cpu", "cuda")
        return {name: torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=fused)
                for name, (params, cfg) in groups.items() if params}

    def _dataset(self, name: str) -> Dataset:
        if name not in self._datasets:
            spec = getattr(self.recipe.data, name)
            if spec is None:
                raise GfcError(f"data.{name}: the recipe's stages need this dataset")
            self._datasets[name] = build("dataset", spec.model_dump(), ("data", name), image_size=self.recipe.image_size)
        return self._datasets[name]

    # ----------------------------------------------------------------------------- running
    def run(self, resume: bool = False) -> Path:
        """Train every stage (continuing from the last checkpoint with ``resume``); return the run folder."""
        try:
            stage_index, step = self._prepare(resume)
            offsets = [sum(s.steps for s in self.recipe.stages[:i]) for i in range(len(self.recipe.stages))]
            for index in range(stage_index, len(self.recipe.stages)):
                self._run_stage(index, offsets[index], step if index == stage_index else 0)
            if self.rt.main:
                self._export()
            return self.output
        finally:
            stop(self.rt)

    def _prepare(self, resume: bool) -> tuple[int, int]:
        recipe_file = self.output / "recipe.yaml"
        text = dump(self.recipe)
        checkpoints = self.output / CHECKPOINTS
        has_checkpoint = (checkpoints / checkpoint.LAST).is_file()
        if resume:
            if not has_checkpoint:
                raise GfcError(f"{self.output}: nothing to resume (no checkpoint); run without --resume")
            if recipe_file.is_file() and recipe_file.read_text() != text:
                raise GfcError(f"{recipe_file}: the run was started with a different recipe; "
                               "resume with the same recipe and --set values, or start a new run with --output")
            state = checkpoint.load(checkpoints, self.modules, self.optimizers)
            log.info("resuming %s at stage %d step %d", self.output, state["stage"], state["step"])
            stage, step = state["stage"], state["step"]
            if step >= self.recipe.stages[stage].steps:
                stage, step = stage + 1, 0
            return stage, step
        if has_checkpoint:
            raise GfcError(f"{self.output}: this run folder already has checkpoints; continue it with --resume "
                           "or choose another folder with --output")
        if self.rt.main:
            self.output.mkdir(parents=True, exist_ok=True)
            recipe_file.write_text(text)
            (self.output / "metrics.jsonl").write_text("")
        return 0, 0

    def _run_stage(self, index: int, offset: int, first: int) -> None:
        stage = self.recipe.stages[index]
        data = self._dataset("parsing" if stage.train == "parser" else "train")
        train = self.recipe.train
        batches = StepBatches(len(data), train.batch_size, self.recipe.seed, offset + first, offset + stage.steps,
                              self.rt.rank, self.rt.world)
        label = f"stage {index + 1}/{len(self.recipe.stages)} {stage.name}"
        log.info("%s: %d steps (%s)", label, stage.steps, ", ".join(stage.losses) or stage.train)
        step_fn = self._parser_step if stage.train == "parser" else self._gan_step
        self._set_lr(stage)
        self._set_modes(stage)
        images, clock = 0, time.perf_counter()
        with StageProgress(label, first, stage.steps, train.log_every, self.rt.main) as progress:
            for step, batch in enumerate(loader(data, batches, train.num_workers, self.recipe.seed), start=first + 1):
                global_step = offset + step
                torch.manual_seed(self.recipe.seed * 1_000_003 + global_step)  # dropout, augmentation
                values = step_fn(to_device(batch, self.rt.device), stage, step_generator(self.recipe.seed, global_step))
                self._check_finite(values, index, step, global_step)
                images += len(batch["image"]) * self.rt.world
                if step % train.log_every == 0 or step == stage.steps:
                    rate = images / (time.perf_counter() - clock)
                    numbers = {k: float(v) for k, v in values.items()}
                    progress.update(step, numbers, rate)
                    self._record({"stage": stage.name, "step": step, "global_step": global_step, **numbers,
                                  "images_per_s": round(rate, 2)})
                if step % train.sample_every == 0 or step == stage.steps:
                    self._samples(index, stage, step, global_step)
                if step % train.checkpoint_every == 0 or step == stage.steps:
                    self._checkpoint(index, step, global_step)

    def _set_lr(self, stage: Stage) -> None:
        """The stage's learning rate, or the recipe's: set at every stage start, so a resume agrees."""
        name = "parser" if stage.train == "parser" else "generator"
        lr = stage.lr or getattr(self.recipe.optim, name).lr
        for group in self.optimizers[name].param_groups:
            group["lr"] = lr

    def _set_modes(self, stage: Stage) -> None:
        """Train mode for what this stage trains; the parser is frozen outside its own stage."""
        for name, module in self.modules.items():
            trains = (name == "parser") == (stage.train == "parser")
            module.train(trains)
            module.requires_grad_(trains)

    # ----------------------------------------------------------------------------- steps
    def _parser_step(self, batch: dict[str, Any], stage: Stage, rng: torch.Generator) -> dict[str, torch.Tensor]:
        if "labels" not in batch:
            raise GfcError("data.parsing: the parser stage needs a dataset with labels (e.g. synthetic_faces)")
        parser, optimizer = self.modules["parser"], self.optimizers["parser"]
        with self.rt.autocast():
            logits = parser(batch["image"])
        loss = self.parser_loss(logits.float(), batch["labels"])
        if not _finite(loss):
            return {"parser": loss.detach()}
        optimizer.zero_grad(set_to_none=True)
        self.scalers["parser"].scale(loss).backward()
        self.rt.average_gradients(parser)
        self.scalers["parser"].step(optimizer)
        self.scalers["parser"].update()
        return {"parser": loss.detach()}

    def _gan_step(self, batch: dict[str, Any], stage: Stage, rng: torch.Generator) -> dict[str, torch.Tensor]:
        image = batch["image"]
        mask = self.sampler(batch, rng).to(image)
        with self.rt.autocast():
            output = self.trained_generator(fill_hole(image, mask, self.recipe.train.hole_fill, rng)).float()
        comp = composite(output, image, mask)
        values: dict[str, torch.Tensor] = {}
        boxes = _hole_boxes(mask, self._patch_size()) if "local_adversarial" in stage.losses else None
        if any(role in stage.losses for role in ADVERSARIAL):
            values["discriminator"] = self._discriminator_step(stage, image, output, comp, boxes)
            if not _finite(values["discriminator"]):
                return values
        total = torch.zeros((), device=image.device)
        with self.rt.autocast():
            for role in stage.losses:
                value = self._generator_term(role, image, output, comp, mask, boxes).float()
                values[role] = value.detach()
                total = total + self.recipe.losses[role].weight * value
        values["total"] = total.detach()
        if not _finite(total):
            return values
        optimizer = self.optimizers["generator"]
        optimizer.zero_grad(set_to_none=True)
        self.scalers["generator"].scale(total).backward()
        self.scalers["generator"].step(optimizer)
        self.scalers["generator"].update()
        return values

    def _discriminator_step(self, stage: Stage, image: torch.Tensor, output: torch.Tensor, comp: torch.Tensor,
                            boxes: torch.Tensor | None) -> torch.Tensor:
        discriminators = [self.modules[n] for n in ("local_discriminator", "global_discriminator") if n in self.modules]
        for d in discriminators:
            d.requires_grad_(True)
        loss = torch.zeros((), device=image.device)
        with self.rt.autocast():
            if "local_adversarial" in stage.losses:
                real, fake = _crop(image, boxes), _crop(comp.detach(), boxes)
                loss = loss + self._adversarial("local", real, fake)
            if "global_adversarial" in stage.losses:
                fake = (output if self.recipe.train.global_input == "output" else comp).detach()
                loss = loss + self._adversarial("global", image, fake)
        if not _finite(loss):
            return loss.detach()
        optimizer = self.optimizers["discriminator"]
        optimizer.zero_grad(set_to_none=True)
        self.scalers["discriminator"].scale(loss).backward()
        for d in discriminators:
            self.rt.average_gradients(d)
        self.scalers["discriminator"].step(optimizer)
        self.scalers["discriminator"].update()
        for d in discriminators:
            d.requires_grad_(False)  # the generator step needs gradients through them, not of them
        return loss.detach()

    def _adversarial(self, which: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """The discriminator loss on one forward pass over real and fake together."""
        logits = self.modules[f"{which}_discriminator"](torch.cat([real, fake])).float()
        return self.losses[f"{which}_adversarial"].discriminator(logits[: len(real)], logits[len(real):])

    def _generator_term(self, role: str, image: torch.Tensor, output: torch.Tensor, comp: torch.Tensor,
                        mask: torch.Tensor, boxes: torch.Tensor | None) -> torch.Tensor:
        loss = self.losses[role]
        if role == "local_adversarial":
            return loss.generator(self.modules["local_discriminator"](_crop(comp, boxes)).float())
        if role == "global_adversarial":
            fake = output if self.recipe.train.global_input == "output" else comp
            return loss.generator(self.modules["global_discriminator"](fake).float())
        if role == PARSING:
            parser = self.modules["parser"]
            with torch.no_grad():
                target = parser(image).argmax(1)
            return loss(parser(comp).float(), target)
        return loss(output, image, mask)

    def _patch_size(self) -> int:
        """The local discriminator's input side (its ``size``; half the image if it does not say)."""
        return int(getattr(self.modules["local_discriminator"], "size", self.recipe.image_size // 2))

    # ----------------------------------------------------------------------------- records
    def _check_finite(self, values: dict[str, torch.Tensor], index: int, step: int, global_step: int) -> None:
        bad = [k for k, v in values.items() if not math.isfinite(float(v))]
        if bad:
            saved = self._checkpoint(index, step - 1, global_step - 1, tag="nonfinite")
            raise NonFiniteLoss(
                f"stage {self.recipe.stages[index].name} step {step}: loss {', '.join(bad)} is not finite; "
                f"stopped without applying it (weights saved in {saved}). Try a lower learning rate or fp32.")

    def _record(self, row: dict[str, Any]) -> None:
        if self.rt.main:
            with (self.output / "metrics.jsonl").open("a") as f:
                f.write(json.dumps(row) + "\n")

    def _checkpoint(self, index: int, step: int, global_step: int, tag: str | None = None) -> Path | None:
        if not self.rt.main:
            return None
        state = {"stage": index, "step": step, "global_step": global_step}
        return checkpoint.save(self.output / CHECKPOINTS, tag or f"{global_step:08d}", self.modules,
                               self.optimizers, state)

    def _sample_batch(self) -> dict[str, Any]:
        """The fixed batch sample grids are drawn on, read once (from data.val, else data.train)."""
        if self._fixed_batch is None:
            data = self._dataset("val") if self.recipe.data.val is not None else self._dataset("train")
            with torch.random.fork_rng():  # reading it must not move the training's random state
                items = [data[i % len(data)] for i in range(min(VALIDATION, len(data)))]
            self._fixed_batch = to_device(default_collate(items), self.rt.device)
        return self._fixed_batch

    def _samples(self, index: int, stage: Stage, step: int, global_step: int) -> None:
        """A grid on a fixed validation batch, plus hole L1 of the completion and of the noise input."""
        if not self.rt.main:
            return
        batch = self._sample_batch()
        image = batch["image"]
        rng = step_generator(self.recipe.seed, -1)  # the same holes at every sample
        mask = self.sampler(batch, rng).to(image)
        masked = fill_hole(image, mask, self.recipe.train.hole_fill, rng)
        was_training = self.generator.training
        self.generator.eval()
        with torch.inference_mode(), self.rt.autocast():
            output = self.generator(masked).float().clamp(-1, 1)
        self.generator.train(was_training)
        comp = composite(output, image, mask)
        rows = [t[:SAMPLES] for t in (masked, output, comp, image)]
        if self._parser_trained:
            with torch.inference_mode():
                rows.append(colorize(self.modules["parser"](comp[:SAMPLES]).argmax(1)))
        name = f"stage{index + 1}_{stage.name}_step{step:06d}.png"
        save_grid(rows, self.output / "samples" / name)
        if stage.train != "parser":
            hole_l1 = L1("hole")  # pixel values in [0, 1], as gfc-kit evaluate reports it
            self._record({"stage": stage.name, "step": step, "global_step": global_step,
                          "val_hole_l1": float(hole_l1(comp, image, mask).mean()),
                          "val_hole_l1_input": float(hole_l1(masked, image, mask).mean())})

    @property
    def _parser_trained(self) -> bool:
        """Whether the run has a parser worth using: trained by a stage, or loaded from weights."""
        return "parser" in self.modules and (any(s.train == "parser" for s in self.recipe.stages)
                                             or self.recipe.model.parser_weights is not None)

    def _export(self) -> None:
        """The trained generator (and parser) on their own, for completing photos and reuse."""
        from safetensors.torch import save_file

        for name in ("generator", "parser"):
            if name in self.modules and (name == "generator" or self._parser_trained):
                weights = {k: v.detach().cpu().contiguous() for k, v in self.modules[name].state_dict().items()}
                checkpoint.write_atomic(self.output / f"{name}.safetensors",
                                        lambda tmp, w=weights: save_file(w, str(tmp)))
        model = {"generator": self.recipe.model.generator.model_dump(mode="json"),
                 "image_size": self.recipe.image_size, "hole_fill": self.recipe.train.hole_fill,
                 "recipe": self.recipe.name}
        if self._parser_trained:  # an untrained parser would give a meaningless score
            model["parser"] = self.recipe.model.parser.model_dump(mode="json")
        (self.output / "model.json").write_text(json.dumps(model, indent=1))


def smoke_test(recipe: Recipe, output: Path | None) -> tuple[Recipe, Path]:
    """The whole recipe for two steps a stage on batches of two (Lightning's ``fast_dev_run``), into
    ``<output>-smoke`` unless ``output`` is given; a previous smoke run there is replaced."""
    stages = [s.model_copy(update={"steps": min(s.steps, 2)}) for s in recipe.stages]
    train = recipe.train.model_copy(update={"batch_size": 2, "num_workers": 0, "log_every": 1,
                                            "sample_every": 2, "checkpoint_every": 2})
    smoke = recipe.model_copy(update={"stages": stages, "train": train})
    if output is None:
        output = recipe.output_dir.with_name(recipe.output_dir.name + "-smoke")
        if (output / SMOKE_MARK).is_file():
            shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / SMOKE_MARK).write_text("a --smoke run; replaced by the next one\n")
    return smoke, output


def _finite(loss: torch.Tensor) -> bool:
    """Whether an update may be applied: a non-finite loss is reported by the caller, never stepped on."""
    return bool(torch.isfinite(loss))


def _hole_boxes(mask: torch.Tensor, patch: int) -> torch.Tensor:
    """Per image, a ``patch``-sized box (for roi_align) centred on the hole's bounding box and kept
    inside the image; for the paper's square holes of the patch size it is the hole exactly."""
    n, _, h, w = mask.shape
    rows, cols = mask[:, 0].amax(2) > 0, mask[:, 0].amax(1) > 0
    index_h, index_w = torch.arange(h, device=mask.device), torch.arange(w, device=mask.device)
    centre_y = torch.where(rows.any(1), (_first(rows, index_h) + _last(rows, index_h) + 1) / 2, h / 2)
    centre_x = torch.where(cols.any(1), (_first(cols, index_w) + _last(cols, index_w) + 1) / 2, w / 2)
    x0 = (centre_x - patch / 2).round().clamp(0, w - patch)
    y0 = (centre_y - patch / 2).round().clamp(0, h - patch)
    return torch.stack([torch.arange(n, device=mask.device, dtype=x0.dtype), x0, y0, x0 + patch, y0 + patch], 1)


def _first(flags: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.where(flags, index, index.numel()).amin(1).float()


def _last(flags: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.where(flags, index, -1).amax(1).float()


def _crop(image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """The ``boxes`` regions of ``image``, exact pixels for integer boxes (differentiable)."""
    size = int(boxes[0, 3] - boxes[0, 1])
    return roi_align(image, boxes.to(image.dtype), output_size=(size, size), sampling_ratio=1, aligned=True)
