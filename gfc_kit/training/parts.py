"""A run's parts, assembled from a recipe in one place: datasets, mask samplers, networks,
discriminators with their views, losses, optimisers and the stage objects.

``gfc-kit run`` (through the trainer), ``gfc-kit bench``, ``gfc-kit recipe preview`` and the
end-of-run report all build what they need here, so they agree on what a recipe means. Everything
is checked as it is built (each dataset's first item, each weight file), and
:func:`gfc_kit.training.checks.check_parts` then runs one real item through the networks, so a
mistake fails in seconds, before any stage has run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from gfc_kit.errors import GfcError
from gfc_kit.factory import build
from gfc_kit.interfaces import takes_mask
from gfc_kit.plugins import registry
from gfc_kit.recipe import DiscriminatorSpec, Recipe
from gfc_kit.registry import loss_inputs
from gfc_kit.training.runtime import Runtime
from gfc_kit.weights import load_weights, mismatch

log = logging.getLogger("gfc_kit.train")


@dataclass
class Judge:
    """A discriminator as a stage uses it: the network, its view, and what it sees as fake."""

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


@dataclass
class RunParts:
    """Everything a recipe builds, by the names the recipe gives it."""

    recipe: Recipe
    rt: Runtime
    stages: list[Any]
    """One stage object per ``recipe.stages`` entry (kind ``stage``: :mod:`gfc_kit.training.stages`)."""
    datasets: dict[str, Dataset]
    """``train``, ``val`` (when set), ``parsing`` (when a stage reads it), ``stages.N`` (a stage's own data)."""
    sampler: Any
    eval_masks: dict[str, Any]
    """The end-of-run report's holes, by report name (built now, so a mistake shows now)."""
    modules: dict[str, torch.nn.Module]
    """``generator``, ``discriminator.NAME`` for each, ``parser`` when the recipe has one."""
    judges: dict[str, Judge]
    terms: dict[str, Term]
    parser_loss: Any
    optimizers: dict[str, torch.optim.Optimizer]
    scalers: dict[str, torch.amp.GradScaler]
    trained_generator: torch.nn.Module
    """The generator as steps call it: wrapped in DistributedDataParallel under torchrun."""

    @property
    def generator(self) -> torch.nn.Module:
        return self.modules["generator"]

    @property
    def mask_channel(self) -> bool:
        """Whether the generator takes the mask as a fourth input channel."""
        return takes_mask(self.generator)

    @property
    def parser_trained(self) -> bool:
        """Whether the run has a parser worth using: trained by a stage, or loaded from weights."""
        return "parser" in self.modules and (any(s.trains == "parser" for s in self.stages)
                                             or self.recipe.model.parser_weights is not None)

    def stage_data(self, index: int) -> Dataset:
        """What stage ``index`` trains on: ``data.parsing``, its own data or size, else ``data.train``."""
        if self.stages[index].data == "parsing":
            return self.datasets["parsing"]
        return self.datasets.get(f"stages.{index}", self.datasets["train"])

    def update(self, name: str, loss: torch.Tensor, averaged: list[torch.nn.Module]) -> None:
        """Backward ``loss`` and step optimiser ``name`` (with its loss scaler under fp16);
        ``averaged``: modules whose gradients are averaged across processes by hand (DDP averages
        the generator's itself)."""
        optimizer, scaler = self.optimizers[name], self.scalers[name]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        for module in averaged:
            self.rt.average_gradients(module)
        scaler.step(optimizer)
        scaler.update()


def assemble(recipe: Recipe, rt: Runtime) -> RunParts:
    """Build and check every part of ``recipe`` on ``rt``'s device (see the module docstring)."""
    from gfc_kit.training.checks import check_parts

    stages = build_stages(recipe)
    datasets = build_datasets(recipe, stages)
    size = recipe.image_size
    sampler = build("mask_sampler", recipe.masks.train.entry, ("masks", "train"), image_size=size)
    eval_masks = {eval_mask_name(spec.type, spec.params, i):
                  build("mask_sampler", spec.entry, ("masks", "eval", i), image_size=size)
                  for i, spec in enumerate(recipe.masks.eval)}
    torch.manual_seed(recipe.seed)  # the same initial weights on every rank and every run
    modules = build_modules(recipe, rt)
    judges = {name: Judge(name, modules[f"discriminator.{name}"],
                          build("view", spec.view.entry, ("model", "discriminators", name, "view"), image_size=size),
                          spec)
              for name, spec in recipe.model.discriminators.items()}
    terms = build_losses(recipe, rt)
    parsing = [t.loss for t in terms.values() if t.inputs == "parsing"]
    parser_loss = parsing[0] if parsing else build("loss", {"type": "parsing_ce"}, ("losses",))
    optimizers = build_optimizers(recipe, modules, rt)
    generator = modules["generator"]
    parts = RunParts(recipe, rt, stages, datasets, sampler, eval_masks, modules, judges, terms, parser_loss,
                     optimizers, {name: rt.scaler() for name in optimizers},
                     DistributedDataParallel(generator) if rt.world > 1 else generator)
    check_parts(parts)
    return parts


def build_stages(recipe: Recipe) -> list[Any]:
    """One stage object per ``recipe.stages`` entry (kind ``stage``, named by its ``train``)."""
    return [build("stage", spec.train.entry, ("stages", i, "train")) for i, spec in enumerate(recipe.stages)]


def build_datasets(recipe: Recipe, stages: list[Any]) -> dict[str, Dataset]:
    """Every dataset the run reads (``train``, ``val`` when set, ``parsing`` when a stage reads
    labelled faces, and ``stages.N`` for a stage with its own ``data`` or ``image_size``), each
    checked: not empty, its files readable (unreadable ones are left out and counted), its first
    item as the stages need it. Equal entries share one object (one cache of faces)."""
    data = recipe.data
    wanted: dict[str, tuple[dict[str, Any], int, tuple]] = {
        "train": (data.train.entry, recipe.image_size, ("data", "train"))}
    if data.val is not None:
        wanted["val"] = (data.val.entry, recipe.image_size, ("data", "val"))
    if data.parsing is not None and any(s.data == "parsing" for s in stages):
        wanted["parsing"] = (data.parsing.entry, recipe.image_size, ("data", "parsing"))
    for i, (stage, spec) in enumerate(zip(stages, recipe.stages)):
        if stage.data == "train" and (spec.data is not None or spec.image_size is not None):
            source, size = spec.data or data.train, spec.image_size or recipe.image_size
            entry = {**source.entry, **({"image_size": size} if "image_size" in source.params else {})}
            wanted[f"stages.{i}"] = (entry, size, ("stages", i, "data") if spec.data else ("data", "train"))
    datasets: dict[str, Dataset] = {}
    for name, (entry, size, path) in wanted.items():
        same = [other for other in datasets if wanted[other][:2] == (entry, size)]
        datasets[name] = datasets[same[0]] if same else _checked_dataset(name, entry, size, path)
    return datasets


def _checked_dataset(name: str, entry: dict[str, Any], size: int, path: tuple) -> Dataset:
    key = ".".join(map(str, path))
    dataset = build("dataset", entry, path, image_size=size)
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
    return dataset


def build_modules(recipe: Recipe, rt: Runtime) -> dict[str, torch.nn.Module]:
    """The networks by name, on the device, starting from the recipe's weight files if it names any."""
    model, size = recipe.model, recipe.image_size
    specs = {"generator": ("generator", model.generator),
             **{f"discriminator.{n}": ("discriminator", s) for n, s in model.discriminators.items()},
             "parser": ("parser", model.parser)}
    memory = torch.channels_last if recipe.train.channels_last else torch.contiguous_format
    modules = {}
    for name, (kind, spec) in specs.items():
        if spec is not None:
            path = ("model", *name.replace("discriminator.", "discriminators.").split("."))
            modules[name] = build(kind, spec.entry, path, image_size=size).to(rt.device, memory_format=memory)
    if "generator" not in modules:
        raise GfcError("model.generator: a run needs a generator")
    for name, path in (("generator", model.generator_weights), ("parser", model.parser_weights)):
        if path is not None and name in modules:
            try:
                modules[name].load_state_dict(load_weights(path, name))
            except RuntimeError as exc:
                raise GfcError(f"model.{name}_weights: {path} does not fit model.{name}: {mismatch(exc)}") from None
    return modules


def build_losses(recipe: Recipe, rt: Runtime) -> dict[str, Term]:
    """Each of the recipe's losses with what it consumes, by its recipe key."""
    terms = {}
    for name, spec in recipe.losses.items():
        loss = build("loss", spec.entry, ("losses", name))
        if isinstance(loss, torch.nn.Module):  # a loss with a network of its own (e.g. perceptual)
            loss.to(rt.device).requires_grad_(False)
        inputs = loss_inputs(registry().get("loss", spec.type).factory)
        terms[name] = Term(name, loss, inputs, spec.weight, spec.params.get("discriminator"))
    return terms


def build_optimizers(recipe: Recipe, modules: dict[str, torch.nn.Module], rt: Runtime
                     ) -> dict[str, torch.optim.Optimizer]:
    """Adam for the generator, for all discriminators together, and for the parser (as present)."""
    optim = recipe.optim
    discriminators = [p for n, m in modules.items() if n.startswith("discriminator.") for p in m.parameters()]
    groups = {
        "generator": (list(modules["generator"].parameters()), optim.generator),
        "discriminator": (discriminators, optim.discriminator),
        "parser": (list(modules["parser"].parameters()) if "parser" in modules else [], optim.parser),
    }
    fused = rt.device.type in ("cpu", "cuda")
    return {name: torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=fused)
            for name, (params, cfg) in groups.items() if params}


def eval_mask_name(kind: str, params: dict[str, Any], index: int) -> str:
    """A report name for the ``index``-th of ``masks.eval``: its region (O1…O6), else its type."""
    return str(params.get("region") or f"{kind}_{index}")
