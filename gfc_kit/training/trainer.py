"""The trainer: the paper's staged training (DESIGN.md section 7), driven by a recipe.

A recipe lists stages; each trains either the parser (``train: parser``, on labelled faces) or
the generator with the losses it names. Per generator iteration: one discriminator step, then one
generator step, as in the released code. Losses are routed by what they declare they consume
(:data:`gfc_kit.interfaces.LossInputs`), never by their recipe key: an adversarial loss reads the
discriminator it names, which judges the composite through its view; a discriminator with
``gradient: all`` passes the composite's gradient straight through to the whole output, as the
released ``gradstack.m`` does for the global one.

Everything is built and checked before the first step (the run folder, every dataset a stage
reads, the training and evaluation mask samplers, the networks on one real item, the losses), so a mistake fails in
seconds, not after the parser stage. Everything random in a step (masks, hole noise, dropout) is
drawn from a generator seeded by ``(seed, step)`` and batches are a function of ``(seed, step)``
too, so ``--resume`` continues exactly where an uninterrupted run would be.

The step API (:meth:`Trainer.enter_stage`, :meth:`Trainer.step`) is public: ``gfc-kit bench``
times it, and a notebook can drive it.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, default_collate

from gfc_kit.components.metrics import L1, Detail
from gfc_kit.errors import GfcError
from gfc_kit.face_layout import FaceLayout
from gfc_kit.factory import build
from gfc_kit.interfaces import StepContext, composite, generator_input, size_multiple, takes_mask
from gfc_kit.outputs import output_folder
from gfc_kit.plugins import hooks, registry
from gfc_kit.recipe import DiscriminatorSpec, Recipe, Stage, dump
from gfc_kit.registry import loss_inputs
from gfc_kit.training import checkpoint
from gfc_kit.training.batches import StepBatches, loader, step_generator, to_device
from gfc_kit.training.callbacks import METRICS_FILE
from gfc_kit.training.runtime import Runtime, start, stop

log = logging.getLogger("gfc_kit.train")

VALIDATION = 64
"""Validation images behind val_hole_l1 (the grid shows the first 8): enough for a steady number."""
SMOKE_MARK = ".smoke"
CHECKPOINTS = "checkpoints"


class NonFiniteLoss(GfcError):
    """A loss became NaN or infinite; it was not applied (see :meth:`Trainer.step`)."""


@dataclass
class Judge:
    """A discriminator as the trainer uses it: the network, its view, and what it sees as fake."""

    name: str
    module: torch.nn.Module
    view: Any
    spec: DiscriminatorSpec

    def __call__(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits ``N`` for ``images`` seen through the view."""
        return self.module(self.view(images, mask, getattr(self.module, "size", None))).float()

    def fake(self, output: torch.Tensor, comp: torch.Tensor) -> torch.Tensor:
        """What the generator step shows it: the composite (gradient inside the hole), the
        composite with its gradient passed to every output pixel (``gradient: all``: the forward
        value is exactly the composite), or the raw output (``fake: output``)."""
        if self.spec.fake == "output":
            return output
        if self.spec.gradient == "all":
            return comp.detach() + (output - output.detach())
        return comp


@dataclass
class Term:
    """A loss as a stage uses it: the recipe key, the loss, what it consumes, its weight."""

    name: str
    loss: Any
    inputs: str
    weight: float
    discriminator: str | None = None


class Validation(NamedTuple):
    """The fixed validation batch completed by the generator as it is at one step."""

    image: torch.Tensor
    mask: torch.Tensor
    masked: torch.Tensor
    output: torch.Tensor
    composite: torch.Tensor


class Trainer:
    """Builds and checks a recipe's components, then trains them stage by stage into ``output``."""

    def __init__(self, recipe: Recipe, output: Path, resume: bool | None = None) -> None:
        """:param resume: whether :meth:`run` continues the run in ``output`` (checked now), or
            ``None`` to say so later, in :meth:`run`."""
        self.recipe = recipe
        self.output = Path(output)
        self.resume = resume
        self.rt: Runtime = start(recipe.train.device, recipe.train.precision)
        self.position = (0, 0)
        """The stage index and the step within it that the run is at."""
        self._check_output()
        self.datasets = self._build_datasets()
        size = recipe.image_size
        self.sampler = build("mask_sampler", recipe.masks.train.entry,
                             ("masks", "train"), image_size=size)
        self.eval_masks = {eval_mask_name(spec.type, spec.params, i):
                           build("mask_sampler", spec.entry, ("masks", "eval", i), image_size=size)
                           for i, spec in enumerate(recipe.masks.eval)}
        """The end-of-run report's holes, by report name (built now, so a mistake shows now)."""
        torch.manual_seed(recipe.seed)  # the same initial weights on every rank and every run
        self.modules = self._build_modules()
        self.generator = self.modules["generator"]
        self.mask_channel = takes_mask(self.generator)
        self.judges = self._build_judges()
        self.terms = self._build_losses()
        self.parser_loss = self._parser_loss()
        self.optimizers = self._build_optimizers()
        self.scalers = {name: self.rt.scaler() for name in self.optimizers}
        self.trained_generator = self.generator
        if self.rt.world > 1:
            self.trained_generator = DistributedDataParallel(self.generator)
        self._check_networks()
        self._fixed_batch: dict[str, Any] | None = None
        self._validation: tuple[int, Validation] | None = None

    # ----------------------------------------------------------------------------- building
    def _check_output(self) -> None:
        """The run folder can be written, and holds no run unless resuming one with the same recipe."""
        out, has_checkpoint = self.output, (self.output / CHECKPOINTS / checkpoint.LAST).is_file()
        if out.exists() and not out.is_dir():
            raise GfcError(f"output: {out} is a file, not a folder; choose another with --output")
        if self.resume is None:
            return
        if self.resume and not has_checkpoint:
            raise GfcError(f"{out}: nothing to resume (no checkpoint); run without --resume")
        if not self.resume and has_checkpoint:
            raise GfcError(f"{out}: this run folder already has checkpoints; continue it with --resume "
                           "or choose another folder with --output")
        recipe_file = out / "recipe.yaml"
        if self.resume and recipe_file.is_file() and recipe_file.read_text() != dump(self.recipe):
            raise GfcError(f"{recipe_file}: the run was started with a different recipe; "
                           "resume with the same recipe and --set values, or start a new run with --output")
        if self.rt.main:
            output_folder(out)  # a file on its path, no permission: one line, before any data is read

    def _build_datasets(self) -> dict[str, Dataset]:
        """Every dataset the run reads (``train``, ``val`` when set, ``parsing`` for a parser
        stage, and ``stages.N`` for a generator stage with its own ``data`` or ``image_size``),
        each checked: not empty, its files readable (unreadable ones are left out and counted),
        its first item as the stages need it."""
        recipe, data = self.recipe, self.recipe.data
        wanted: dict[str, tuple[dict[str, Any], int, tuple]] = {
            "train": (data.train.entry, recipe.image_size, ("data", "train"))}
        if data.val is not None:
            wanted["val"] = (data.val.entry, recipe.image_size, ("data", "val"))
        if data.parsing is not None and any(s.train == "parser" for s in recipe.stages):
            wanted["parsing"] = (data.parsing.entry, recipe.image_size, ("data", "parsing"))
        for i, stage in enumerate(recipe.stages):
            if stage.train == "generator" and (stage.data is not None or stage.image_size is not None):
                spec, size = stage.data or data.train, stage.image_size or recipe.image_size
                entry = {**spec.entry, **({"image_size": size} if "image_size" in spec.params else {})}
                wanted[f"stages.{i}"] = (entry, size, ("stages", i, "data") if stage.data else ("data", "train"))
        datasets: dict[str, Dataset] = {}
        for name, (entry, size, path) in wanted.items():
            key = ".".join(map(str, path))
            same = [other for other in datasets if wanted[other][:2] == (entry, size)]
            if same:  # one object for equal entries (e.g. one cached set of faces for two stages)
                datasets[name] = datasets[same[0]]
                continue
            dataset = build("dataset", entry, path, image_size=size)
            datasets[name] = dataset
            try:
                skipped = dataset.check() if hasattr(dataset, "check") else 0
                if skipped:
                    log.warning("%s: left out %d unreadable file(s) of %d", key, skipped, skipped + len(dataset))
                if len(dataset) == 0:
                    raise GfcError("the dataset is empty")
                with torch.random.fork_rng():
                    item = dataset[0]
            except GfcError as exc:  # e.g. every file unreadable: say which recipe entry reads them
                raise GfcError(f"{key}: {exc}") from None
            if name == "parsing" and "labels" not in item:
                raise GfcError(f"data.parsing: the parser stage needs items with labels; {entry['type']} has none "
                               "(use e.g. synthetic_faces or parsing_folder)")
            side = tuple(item["image"].shape[-2:])
            if side != (size, size):
                where = "the recipe's image_size" if name in ("train", "val", "parsing") else f"{name}.image_size"
                raise GfcError(f"{key}: gives {side[1]}×{side[0]} images, {where} is {size}")
        return datasets

    def stage_data(self, index: int) -> Dataset:
        """What stage ``index`` trains on: ``data.parsing``, its own data or size, else ``data.train``."""
        if self.recipe.stages[index].train == "parser":
            return self.datasets["parsing"]
        return self.datasets.get(f"stages.{index}", self.datasets["train"])

    def _build_modules(self) -> dict[str, torch.nn.Module]:
        model, size = self.recipe.model, self.recipe.image_size
        specs = {"generator": ("generator", model.generator),
                 **{f"discriminator.{n}": ("discriminator", s) for n, s in model.discriminators.items()},
                 "parser": ("parser", model.parser)}
        memory = torch.channels_last if self.recipe.train.channels_last else torch.contiguous_format
        modules = {}
        for name, (kind, spec) in specs.items():
            if spec is not None:
                path = ("model", *name.replace("discriminator.", "discriminators.").split("."))
                module = build(kind, spec.entry, path, image_size=size)
                modules[name] = module.to(self.rt.device, memory_format=memory)
        if "generator" not in modules:
            raise GfcError("model.generator: a run needs a generator")
        for name, path in (("generator", model.generator_weights), ("parser", model.parser_weights)):
            if path is not None and name in modules:
                weights = checkpoint.load_weights(path, name)
                try:
                    modules[name].load_state_dict(weights)
                except RuntimeError as exc:
                    raise GfcError(f"model.{name}_weights: {path} does not fit model.{name}: "
                                   f"{checkpoint.mismatch(exc)}") from None
        return modules

    def _build_judges(self) -> dict[str, Judge]:
        """Each discriminator with its view, by its name in ``model.discriminators``."""
        return {name: Judge(name, self.modules[f"discriminator.{name}"],
                            build("view", spec.view.entry, ("model", "discriminators", name, "view"),
                                  image_size=self.recipe.image_size), spec)
                for name, spec in self.recipe.model.discriminators.items()}

    def _build_losses(self) -> dict[str, Term]:
        terms = {}
        for name, spec in self.recipe.losses.items():
            loss = build("loss", spec.entry, ("losses", name))
            if isinstance(loss, torch.nn.Module):  # a loss with a network of its own (e.g. perceptual)
                loss.to(self.rt.device).requires_grad_(False)
            inputs = loss_inputs(registry().get("loss", spec.type).factory)
            terms[name] = Term(name, loss, inputs, spec.weight, spec.params.get("discriminator"))
        return terms

    def _parser_loss(self) -> Any:
        """The parser stage's loss: the recipe's parsing loss if it has one, else cross-entropy."""
        parsing = [t.loss for t in self.terms.values() if t.inputs == "parsing"]
        return parsing[0] if parsing else build("loss", {"type": "parsing_ce"}, ("losses",))

    def _build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optim = self.recipe.optim
        discriminators = [p for n, m in self.modules.items() if n.startswith("discriminator.") for p in m.parameters()]
        groups = {
            "generator": (list(self.generator.parameters()), optim.generator),
            "discriminator": (discriminators, optim.discriminator),
            "parser": (list(self.modules["parser"].parameters()) if "parser" in self.modules else [], optim.parser),
        }
        fused = self.rt.device.type in ("cpu", "cuda")
        return {name: torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=fused)
                for name, (params, cfg) in groups.items() if params}

    @torch.no_grad()
    def _check_networks(self) -> None:
        """One real item through the mask sampler, generator, every discriminator's view and the
        parser, so a network that does not fit the data fails now, not after an earlier stage."""
        batch = to_device(default_collate([self.datasets["train"][0]]), self.rt.device)
        image = batch["image"]
        modes = {name: m.training for name, m in self.modules.items()}
        with torch.random.fork_rng():
            try:
                mask = self.sampler(batch, step_generator(self.recipe.seed, 0)).to(image)
            except Exception as exc:
                raise GfcError(f"masks.train: fails on a {_shape(image)} batch: {_first_line(exc)}") from None
            if mask.shape != (1, 1, *image.shape[-2:]):
                raise GfcError(f"masks.train: gave masks of shape {_shape(mask)} for a {_shape(image)} batch; "
                               f"a mask sampler returns N×1×H×W")
            for module in self.modules.values():
                module.eval()
            try:
                x = generator_input(image, mask, self.recipe.train.hole_fill, None, self.mask_channel)
                output = self._run("model.generator", self.generator, x).float()
                if output.shape != image.shape:
                    raise GfcError(f"model.generator: gives {_shape(output)} for a {_shape(image)} image")
                comp = composite(output, image, mask)
                for name, judge in self.judges.items():
                    logits = self._run(f"model.discriminators.{name}", lambda x: judge(x, mask), comp)
                    if logits.shape != (1,):
                        raise GfcError(f"model.discriminators.{name}: gives {_shape(logits)}, not one logit per image")
                if "parser" in self.modules:
                    self._run("model.parser", self.modules["parser"], image)
                self._check_stage_sizes()
            finally:
                for name, module in self.modules.items():
                    module.train(modes[name])

    def _check_stage_sizes(self) -> None:
        """The mask sampler and generator on one item of each stage with its own data or size."""
        for key, data in self.datasets.items():
            if not key.startswith("stages."):
                continue
            batch = to_device(default_collate([data[0]]), self.rt.device)
            image = batch["image"]
            try:
                mask = self.sampler(batch, step_generator(self.recipe.seed, 0)).to(image)
                x = generator_input(image, mask, self.recipe.train.hole_fill, None, self.mask_channel)
                output = self.generator(x)
            except Exception as exc:
                raise GfcError(f"{key}: the generator or masks.train fail on its {_shape(image)} images: "
                               f"{_first_line(exc)}") from None
            if output.shape != image.shape:
                raise GfcError(f"{key}: the generator gives {_shape(output)} for its {_shape(image)} images")

    @staticmethod
    def _run(key: str, network: Any, x: torch.Tensor) -> torch.Tensor:
        try:
            return network(x)
        except GfcError:
            raise
        except Exception as exc:
            raise GfcError(f"{key}: fails on a {_shape(x)} input: {_first_line(exc)}") from None

    # ----------------------------------------------------------------------------- running
    def run(self, resume: bool | None = None) -> Path:
        """Train every stage (continuing from the last checkpoint when resuming); return the run folder."""
        if resume is not None and resume != self.resume or self.resume is None:
            self.resume = bool(resume)
            self._check_output()
        try:
            stage_index, step = self._prepare()
            offsets = [sum(s.steps for s in self.recipe.stages[:i]) for i in range(len(self.recipe.stages))]
            for index in range(stage_index, len(self.recipe.stages)):
                self._run_stage(index, offsets[index], step if index == stage_index else 0)
            if self.rt.main:
                self._export()
                self._report()
            return self.output
        finally:
            stop(self.rt)

    def _prepare(self) -> tuple[int, int]:
        checkpoints, metrics = self.output / CHECKPOINTS, self.output / METRICS_FILE
        if self.resume:
            state = checkpoint.load(checkpoints, self.modules, self.optimizers, self.scalers)
            stage, step = state["stage"], state["step"]
            if not 0 <= stage < len(self.recipe.stages) or step < 0:
                raise GfcError(f"{checkpoints / checkpoint.LAST}: stage {stage} step {step} is not a point in the "
                               f"recipe's {len(self.recipe.stages)} stages; resume with the run's own recipe")
            log.info("resuming %s at stage %d step %d", self.output, stage, step)
            if self.rt.main and metrics.is_file():  # rows after the checkpoint will be logged again
                rows = [line for line in metrics.read_text().splitlines()
                        if _row_step(line) is not None and _row_step(line) <= state["global_step"]]
                metrics.write_text("".join(row + "\n" for row in rows))
            if step >= self.recipe.stages[stage].steps:
                stage, step = stage + 1, 0
            return stage, step
        if self.rt.main:
            (self.output / "recipe.yaml").write_text(dump(self.recipe))
            metrics.write_text("")
        return 0, 0

    def _run_stage(self, index: int, offset: int, first: int) -> None:
        stage = self.recipe.stages[index]
        data = self.stage_data(index)
        train = self.recipe.train
        batches = StepBatches(len(data), train.batch_size, self.recipe.seed, offset + first, offset + stage.steps,
                              self.rt.rank, self.rt.world)
        log.info("stage %d/%d %s: %d steps (%s)", index + 1, len(self.recipe.stages), stage.name, stage.steps,
                 ", ".join(stage.losses) or stage.train)
        self.enter_stage(stage)
        self.position = (index, first)
        self._notify("gfc_stage_start", stage=stage, index=index)
        images, clock = 0, time.perf_counter()
        for step, batch in enumerate(loader(data, batches, train.num_workers, self.recipe.seed), start=first + 1):
            global_step = offset + step
            torch.manual_seed(self.recipe.seed * 1_000_003 + global_step)  # dropout, augmentation
            if stage.lr_decay != "none":
                self.set_lr(stage, step - 1)
            try:
                values = self.step(to_device(batch, self.rt.device), stage, step_generator(self.recipe.seed, global_step))
            except NonFiniteLoss as exc:
                saved = self._checkpoint(index, step - 1, global_step - 1, tag="nonfinite")
                raise NonFiniteLoss(f"stage {stage.name} step {step}: {exc} (weights as they are now saved in "
                                    f"{saved}; --resume continues from the last regular checkpoint). "
                                    "Try a lower learning rate or fp32.") from None
            self.position = (index, step)
            images += len(batch["image"]) * self.rt.world
            if step % train.log_every == 0 or step == stage.steps:
                rate = images / (time.perf_counter() - clock)
                self._record({"stage": stage.name, "step": step, "global_step": global_step,
                              **{k: float(v) for k, v in values.items()}, "images_per_s": round(rate, 2)})
            if step % train.sample_every == 0 or step == stage.steps:
                self._validate(stage, step, global_step)
            if step % train.checkpoint_every == 0 or step == stage.steps:
                self._checkpoint(index, step, global_step)
        self._notify("gfc_stage_end", stage=stage, index=index)

    def enter_stage(self, stage: Stage) -> None:
        """Set up the networks for ``stage``: train mode and gradients for what it trains (the
        parser is frozen outside its own stage), and its learning rate (set at every stage start,
        so a resume agrees)."""
        for name, module in self.modules.items():
            trains = (name == "parser") == (stage.train == "parser")
            module.train(trains)
            # a discriminator's weights need gradients only in its own step, which switches them on
            module.requires_grad_(trains and not name.startswith("discriminator."))
        self.set_lr(stage, 0)

    def set_lr(self, stage: Stage, step: int) -> None:
        """The learning rate of what ``stage`` trains, before its step ``step + 1`` (a function of
        the step, so a resumed run agrees)."""
        name = "parser" if stage.train == "parser" else "generator"
        lr = stage.lr or getattr(self.recipe.optim, name).lr
        if stage.lr_decay == "cosine" and stage.steps:
            lr *= 0.5 * (1 + math.cos(math.pi * step / stage.steps))
        for group in self.optimizers[name].param_groups:
            group["lr"] = lr

    # ----------------------------------------------------------------------------- steps
    def step(self, batch: dict[str, Any], stage: Stage, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """One training step of ``stage`` on ``batch`` (on the training device), random draws from
        ``rng``; returns the losses. Call :meth:`enter_stage` first.

        A non-finite loss is never applied: it raises :class:`NonFiniteLoss`. The checks come in
        the step's order: the generator's output (before any update), the discriminators' loss
        (before their update), then the generator's loss (before its update; the discriminators'
        update of this step, which comes first as in the paper, has then been applied)."""
        if stage.train == "parser":
            return self.parser_step(batch)
        return self.generator_step(batch, stage, rng)

    def parser_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One update of the parser on labelled faces."""
        parser = self.modules["parser"]
        with self.rt.autocast():
            logits = parser(batch["image"])
        loss = self.parser_loss(logits.float(), batch["labels"])
        _check_finite({"parser": loss})
        self._update("parser", loss, [parser])
        return {"parser": loss.detach()}

    def generator_step(self, batch: dict[str, Any], stage: Stage, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """One discriminator update (when the stage has adversarial losses), then one generator update."""
        image = batch["image"]
        mask = self.sampler(batch, rng).to(image)
        with self.rt.autocast():
            x = generator_input(image, mask, self.recipe.train.hole_fill, rng, self.mask_channel)
            output = self.trained_generator(x).float()
        if not bool(torch.isfinite(output).all()):
            raise NonFiniteLoss("the generator's output is not finite; stopped before any update")
        context = self.step_context(batch, mask, output)
        terms = [self.terms[name] for name in stage.losses]
        adversarial = [t for t in terms if t.inputs == "adversarial"]
        values: dict[str, torch.Tensor] = {}
        if adversarial:
            values.update(self._discriminator_step(adversarial, image, mask, output, context.composite))
        total = torch.zeros((), device=image.device)
        with self.rt.autocast():
            for term in terms:
                value = self.loss_value(term.name, context).float()
                values[term.name] = value.detach()
                total = total + term.weight * value
        values["total"] = total.detach()
        _check_finite(values)
        self._update("generator", total, [])
        return values

    def _discriminator_step(self, terms: list[Term], image: torch.Tensor, mask: torch.Tensor,
                            output: torch.Tensor, comp: torch.Tensor) -> dict[str, torch.Tensor]:
        """One update of every discriminator the stage's adversarial terms name; the values logged:
        ``discriminator`` (their sum, what is minimised) and ``discriminator.NAME`` for each, so a
        third discriminator can be watched on its own."""
        judges = [self.judges[t.discriminator] for t in terms]
        for judge in judges:
            judge.module.requires_grad_(True)
        each: dict[str, torch.Tensor] = {}
        with self.rt.autocast():
            for term, judge in zip(terms, judges):
                fake = (output if judge.spec.fake == "output" else comp).detach()
                logits = judge(torch.cat([image, fake]), torch.cat([mask, mask]))  # one pass over both
                name = f"discriminator.{term.discriminator}"
                each[name] = each.get(name, 0) + term.loss.discriminator(logits[: len(image)], logits[len(image):])
        loss = sum(each.values())
        _check_finite({"discriminator": loss})
        self._update("discriminator", loss, [j.module for j in judges])
        for judge in judges:
            judge.module.requires_grad_(False)  # the generator step needs gradients through them, not of them
        return {"discriminator": loss.detach(), **{name: value.detach() for name, value in each.items()}}

    def step_context(self, batch: dict[str, Any], mask: torch.Tensor, output: torch.Tensor) -> StepContext:
        """What the generator's losses read in a step: the batch, its holes, the generator's output,
        the composite, each discriminator through its view, the parser."""
        image = batch["image"]
        judges = {name: (lambda x, j=judge: j(x, mask)) for name, judge in self.judges.items()}
        return StepContext(batch, image, mask, output, composite(output, image, mask), judges,
                           self.modules.get("parser"))

    def loss_value(self, name: str, c: StepContext) -> torch.Tensor:
        """The generator-side value of the recipe's loss ``name``, routed by what it consumes."""
        term = self.terms[name]
        if term.inputs == "adversarial":
            judge = self.judges[term.discriminator]
            return term.loss.generator(judge(judge.fake(c.output, c.composite), c.mask))
        if term.inputs == "parsing":
            with torch.no_grad():
                target = c.parser(c.image).argmax(1)
            return term.loss(c.parser(c.composite).float(), target)
        if term.inputs == "step":
            return term.loss(c)
        return term.loss(c.output, c.image, c.mask)

    def _update(self, name: str, loss: torch.Tensor, averaged: list[torch.nn.Module]) -> None:
        """Backward ``loss`` and step optimiser ``name`` (with its loss scaler under fp16)."""
        optimizer, scaler = self.optimizers[name], self.scalers[name]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        for module in averaged:  # DDP averages the generator's gradients itself
            self.rt.average_gradients(module)
        scaler.step(optimizer)
        scaler.update()

    # ----------------------------------------------------------------------------- records
    def _notify(self, hook: str, **kwargs: Any) -> None:
        """Call a lifecycle hook (main process only)."""
        if self.rt.main:
            getattr(hooks(), hook)(run=self, **kwargs)

    def _record(self, row: dict[str, Any]) -> None:
        self._notify("gfc_row_logged", row=row)

    def _checkpoint(self, index: int, step: int, global_step: int, tag: str | None = None) -> Path | None:
        if not self.rt.main:
            return None
        state = {"stage": index, "step": step, "global_step": global_step}
        path = checkpoint.save(self.output / CHECKPOINTS, tag or f"{global_step:08d}", self.modules,
                               self.optimizers, state, scalers=self.scalers, resume_point=tag is None)
        self._notify("gfc_checkpoint_saved", path=path)
        return path

    def _sample_batch(self) -> dict[str, Any]:
        """The fixed batch of validation images (data.val, else data.train), read once."""
        if self._fixed_batch is None:
            data = self.datasets["val" if "val" in self.datasets else "train"]
            with torch.random.fork_rng():  # reading it must not move the training's random state
                items = [data[i % len(data)] for i in range(min(VALIDATION, len(data)))]
            self._fixed_batch = to_device(default_collate(items), self.rt.device)
        return self._fixed_batch

    def validation(self) -> Validation:
        """The fixed validation batch completed by the generator as it is now (the same holes and
        noise every time); computed once per step however many callbacks ask."""
        global_step = sum(s.steps for s in self.recipe.stages[: self.position[0]]) + self.position[1]
        if self._validation is not None and self._validation[0] == global_step:
            return self._validation[1]
        batch = self._sample_batch()
        image = batch["image"]
        rng = step_generator(self.recipe.seed, -1)
        mask = self.sampler(batch, rng).to(image)
        x = generator_input(image, mask, self.recipe.train.hole_fill, rng, self.mask_channel)
        was_training = self.generator.training
        self.generator.eval()
        with torch.inference_mode(), self.rt.autocast():
            output = self.generator(x).float().clamp(-1, 1)
        self.generator.train(was_training)
        result = Validation(image, mask, x[:, :3], output, composite(output, image, mask))
        self._validation = (global_step, result)
        return result

    @torch.inference_mode()
    def parse(self, images: torch.Tensor) -> torch.Tensor:
        """The parser's labels ``N×H×W`` for ``images`` (in eval mode, which is restored after)."""
        parser = self.modules["parser"]
        was_training = parser.training
        parser.eval()
        try:
            return parser(images).argmax(1)
        finally:
            parser.train(was_training)

    def _validate(self, stage: Stage, step: int, global_step: int) -> None:
        """A validation row: hole L1 of the completion and of the noise input on the fixed batch
        (pixel values in [0, 1], as gfc-kit evaluate reports it), and the fill's detail ratio."""
        if not self.rt.main:
            return
        row: dict[str, Any] = {"stage": stage.name, "step": step, "global_step": global_step, "split": "val"}
        if stage.train == "parser":
            labels = self._sample_batch().get("labels")
            if labels is not None:
                row["val_parse_acc"] = float((self.parse(self._sample_batch()["image"]) == labels).float().mean())
        else:
            v = self.validation()
            hole_l1 = L1("hole")
            row["val_hole_l1"] = float(hole_l1(v.composite, v.image, v.mask).mean())
            row["val_hole_l1_input"] = float(hole_l1(v.masked, v.image, v.mask).mean())
            row["val_hole_detail"] = float(Detail(sigma=1.0)(v.composite, v.image, v.mask).mean())
        self._record(row)

    @property
    def parser_trained(self) -> bool:
        """Whether the run has a parser worth using: trained by a stage, or loaded from weights."""
        return "parser" in self.modules and (any(s.train == "parser" for s in self.recipe.stages)
                                             or self.recipe.model.parser_weights is not None)

    def _export(self) -> None:
        """The trained generator (and parser) on their own, for completing photos and reuse."""
        from safetensors.torch import save_file

        for name in ("generator", "parser"):
            if name in self.modules and (name == "generator" or self.parser_trained):
                weights = {k: v.detach().cpu().contiguous() for k, v in self.modules[name].state_dict().items()}
                checkpoint.write_atomic(self.output / f"{name}.safetensors",
                                        lambda tmp, w=weights: save_file(w, str(tmp)))
        layout = dataset_layout(self.datasets["train"])  # where its faces sit: aligners use it
        model = {"generator": self.recipe.model.generator.model_dump(mode="json"),
                 "image_size": self.recipe.image_size, "hole_fill": self.recipe.train.hole_fill,
                 "recipe": self.recipe.name, "face_layout": layout and layout.to_json(), **model_sizes(self.generator)}
        if self.parser_trained:  # an untrained parser would give a meaningless score
            model["parser"] = self.recipe.model.parser.model_dump(mode="json")
        (self.output / "model.json").write_text(json.dumps(model, indent=1))

    def _report(self) -> None:
        """``report.md`` in the run folder: the trained generator on ``data.val`` under each of
        ``masks.eval`` (skipped without either, or with ``train.report_images: 0``)."""
        from gfc_kit.training.run_report import write_run_report

        folder = write_run_report(self)
        if folder is not None:
            self._notify("gfc_report_written", folder=folder)


def dataset_layout(dataset: object) -> FaceLayout | None:
    """The face layout a dataset declares (its ``face_layout`` attribute): the CelebA crop for the
    face datasets, ``None`` for scenes and for any dataset that declares nothing, so a model never
    claims an alignment its data did not have."""
    layout = getattr(dataset, "face_layout", None)
    if layout is not None and not isinstance(layout, FaceLayout):
        raise GfcError(f"dataset {type(dataset).__name__}: face_layout must be a gfc_kit.face_layout.FaceLayout "
                       f"or None, not {type(layout).__name__}")
    return layout


def smoke_test(recipe: Recipe, output: Path | None) -> tuple[Recipe, Path]:
    """The whole recipe for two steps a stage on batches of two (Lightning's ``fast_dev_run``), into
    ``<output>-smoke`` unless ``output`` is given; a previous smoke run there is replaced."""
    stages = [s.model_copy(update={"steps": min(s.steps, 2)}) for s in recipe.stages]
    train = recipe.train.model_copy(update={"batch_size": 2, "num_workers": 0, "log_every": 1, "sample_every": 2,
                                            "checkpoint_every": 2,
                                            "report_images": min(recipe.train.report_images, 4)})
    smoke = recipe.model_copy(update={"stages": stages, "train": train})
    if output is None:
        output = recipe.output_dir.with_name(recipe.output_dir.name + "-smoke")
        if (output / SMOKE_MARK).is_file():
            shutil.rmtree(output)
    output_folder(output)
    (output / SMOKE_MARK).write_text("a --smoke run; replaced by the next one\n")
    return smoke, output


def _check_finite(values: dict[str, torch.Tensor]) -> None:
    """Raise :class:`NonFiniteLoss` naming the losses that are NaN or infinite (one device sync)."""
    finite = torch.isfinite(torch.stack([v.detach().float().reshape(()) for v in values.values()]))
    if not bool(finite.all()):
        bad = [name for name, ok in zip(values, finite.tolist()) if not ok]
        raise NonFiniteLoss(f"loss {', '.join(bad)} is not finite; stopped without applying it")


def model_sizes(generator: torch.nn.Module) -> dict[str, Any]:
    """What a ``model.json`` says of the sizes its generator takes: whether it is fully
    convolutional, and then the multiple its sides must be (crops are completed at their own
    scale, up to ``max_side``, which the completer sets unless the file does)."""
    multiple = size_multiple(generator)
    return {"fully_convolutional": multiple is not None, **({"size_multiple": multiple} if multiple else {})}


def eval_mask_name(kind: str, params: dict[str, Any], index: int) -> str:
    """A report name for the ``index``-th of ``masks.eval``: its region (O1…O6), else its type."""
    return str(params.get("region") or f"{kind}_{index}")


def _row_step(line: str) -> int | None:
    """A metrics.jsonl line's global step; ``None`` for a line a killed run left half-written."""
    try:
        return int(json.loads(line).get("global_step", 0))
    except (ValueError, AttributeError, TypeError):
        return None


def _shape(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
