"""Stages as components (kind ``stage``): what one training step of a recipe stage does.

A recipe stage names one with ``train:`` (``generator``, the default, ``parser``, or a plugin's,
as a name or an entry ``{type: name, ...}``); the trainer builds one object per stage and calls
:meth:`~gfc_kit.interfaces.TrainingStage.enter`, ``step`` and ``validate``; ``gfc-kit bench``
times the same objects. The built-ins:

- :class:`GeneratorStage`: per step one discriminator update (when the stage has adversarial
  losses), then one generator update, as in the released code. Losses are routed by what they
  declare they consume (:data:`gfc_kit.interfaces.LossInputs`), never by their recipe key.
- :class:`ParserStage`: one update of the face parser on labelled faces.

A non-finite loss is never applied: it raises :class:`NonFiniteLoss` before the update it would
have made. A plugin stage subclasses one of these (or :class:`TrainingStage`) and registers it
with ``registry.add("stage", name, cls)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch

from gfc_kit.components.metrics import L1, Detail
from gfc_kit.errors import GfcError
from gfc_kit.hookspecs import hookimpl
from gfc_kit.interfaces import Batch, Run, StepContext, composite, generator_input

if TYPE_CHECKING:
    from gfc_kit.recipe import Stage
    from gfc_kit.registry import Registry
    from gfc_kit.training.parts import RunParts, Term


class NonFiniteLoss(GfcError):
    """A loss became NaN or infinite; it was not applied."""


class TrainingStage:
    """The shared part of a stage: which networks train (train mode, gradients) while it runs."""

    trains: ClassVar[str] = "generator"
    """The optimiser a step updates and whose learning rate the stage sets."""
    data: ClassVar[str] = "train"
    """The dataset it reads: ``train`` (or the stage's own ``data``) or ``parsing``."""

    def training(self, parts: RunParts) -> set[str]:
        """The modules in train mode during this stage (the others are in eval mode)."""
        return {self.trains}

    def check(self, parts: RunParts, stage: Stage) -> None:
        """Raise :class:`GfcError` if this stage cannot run on ``parts``: called for every stage
        before the run's first step, so a mistake fails in seconds, not at the stage's start."""

    def enter(self, parts: RunParts, stage: Stage) -> None:
        """Train mode for :meth:`training`'s modules, eval mode and no gradients for the rest (a
        discriminator's weights need gradients only in its own step, which switches them on)."""
        training = self.training(parts)
        for name, module in parts.modules.items():
            module.train(name in training)
            module.requires_grad_(name in training and not name.startswith("discriminator."))

    def step(self, parts: RunParts, stage: Stage, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def validate(self, run: Run) -> dict[str, float]:
        return {}


class GeneratorStage(TrainingStage):
    """The generator with the stage's losses (and the discriminators its adversarial losses read)."""

    def training(self, parts: RunParts) -> set[str]:
        return {name for name in parts.modules if name != "parser"}  # the parser stays frozen

    def step(self, parts: RunParts, stage: Stage, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """One discriminator update (when the stage has adversarial losses), then one generator
        update. Checked in the step's order: the output (before any update), the discriminators'
        loss (before theirs), then the generator's loss (before its own)."""
        image = batch["image"]
        mask = parts.sampler(batch, rng).to(image)
        with parts.rt.autocast():
            x = generator_input(image, mask, parts.recipe.train.hole_fill, rng, parts.mask_channel)
            output = parts.trained_generator(x).float()
        if not bool(torch.isfinite(output).all()):
            raise NonFiniteLoss("the generator's output is not finite; stopped before any update")
        context = step_context(parts, batch, mask, output)
        terms = [parts.terms[name] for name in stage.losses]
        adversarial = [t for t in terms if t.inputs == "adversarial"]
        values: dict[str, torch.Tensor] = {}
        if adversarial:
            values.update(self.discriminator_step(parts, adversarial, context))
        total = torch.zeros((), device=image.device)
        with parts.rt.autocast():
            for term in terms:
                value = loss_value(parts, term, context).float()
                values[term.name] = value.detach()
                total = total + term.weight * value
        values["total"] = total.detach()
        check_finite(values)
        parts.update("generator", total, [])
        return values

    def discriminator_step(self, parts: RunParts, terms: list[Term], c: StepContext) -> dict[str, torch.Tensor]:
        """One update of every discriminator the adversarial ``terms`` name; the values logged:
        ``discriminator`` (their sum, what is minimised) and ``discriminator.NAME`` for each, so a
        third discriminator can be watched on its own."""
        judges = [parts.judges[t.discriminator] for t in terms]
        for judge in judges:
            judge.module.requires_grad_(True)
        each: dict[str, torch.Tensor] = {}
        real = len(c.image)
        with parts.rt.autocast():
            for term, judge in zip(terms, judges):
                fake = (c.output if judge.spec.fake == "output" else c.composite).detach()
                logits = judge(torch.cat([c.image, fake]), torch.cat([c.mask, c.mask]))  # one pass over both
                name = f"discriminator.{term.discriminator}"
                each[name] = each.get(name, 0) + term.loss.discriminator(logits[:real], logits[real:])
        loss = sum(each.values())
        check_finite({"discriminator": loss})
        parts.update("discriminator", loss, [j.module for j in judges])
        for judge in judges:
            judge.module.requires_grad_(False)  # the generator step needs gradients through them, not of them
        return {"discriminator": loss.detach(), **{name: value.detach() for name, value in each.items()}}

    def validate(self, run: Run) -> dict[str, float]:
        """Hole L1 of the completion and of the noise input on the fixed batch (pixel values in
        [0, 1], as gfc-kit evaluate reports it), and the fill's detail ratio."""
        v = run.validation()
        hole_l1 = L1("hole")
        return {"val_hole_l1": float(hole_l1(v.composite, v.image, v.mask).mean()),
                "val_hole_l1_input": float(hole_l1(v.masked, v.image, v.mask).mean()),
                "val_hole_detail": float(Detail(sigma=1.0)(v.composite, v.image, v.mask).mean())}


class ParserStage(TrainingStage):
    """The face parser on labelled faces (``data.parsing``), with the recipe's parsing loss."""

    trains: ClassVar[str] = "parser"
    data: ClassVar[str] = "parsing"

    def step(self, parts: RunParts, stage: Stage, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        parser = parts.modules["parser"]
        with parts.rt.autocast():
            logits = parser(batch["image"])
        loss = parts.parser_loss(logits.float(), batch["labels"])
        check_finite({"parser": loss})
        parts.update("parser", loss, [parser])
        return {"parser": loss.detach()}

    def validate(self, run: Run) -> dict[str, float]:
        """The parser's pixel accuracy on the fixed batch (when its data has labels)."""
        batch = run.validation_batch()
        if "labels" not in batch:
            return {}
        return {"val_parse_acc": float((run.parse(batch["image"]) == batch["labels"]).float().mean())}


def step_context(parts: RunParts, batch: Batch, mask: torch.Tensor, output: torch.Tensor) -> StepContext:
    """What the generator's losses read in a step: the batch, its holes, the generator's output,
    the composite, each discriminator through its view, the parser."""
    image = batch["image"]
    judges = {name: (lambda x, j=judge: j(x, mask)) for name, judge in parts.judges.items()}
    return StepContext(batch, image, mask, output, composite(output, image, mask), judges, parts.modules.get("parser"))


def loss_value(parts: RunParts, term: Term, c: StepContext) -> torch.Tensor:
    """The generator-side value of one loss term, routed by what it consumes."""
    if term.inputs == "adversarial":
        judge = parts.judges[term.discriminator]
        return term.loss.generator(judge(judge.fake(c.output, c.composite), c.mask))
    if term.inputs == "parsing":
        with torch.no_grad():
            target = c.parser(c.image).argmax(1)
        return term.loss(c.parser(c.composite).float(), target)
    if term.inputs == "step":
        return term.loss(c)
    return term.loss(c.output, c.image, c.mask)


def check_finite(values: dict[str, Any]) -> None:
    """Raise :class:`NonFiniteLoss` naming the losses that are NaN or infinite (one device sync)."""
    finite = torch.isfinite(torch.stack([v.detach().float().reshape(()) for v in values.values()]))
    if not bool(finite.all()):
        bad = [name for name, ok in zip(values, finite.tolist()) if not ok]
        raise NonFiniteLoss(f"loss {', '.join(bad)} is not finite; stopped without applying it")


@hookimpl
def gfc_register(registry: Registry) -> None:
    registry.add("stage", "generator", GeneratorStage)
    registry.add("stage", "parser", ParserStage)
