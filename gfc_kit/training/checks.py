"""The check before the first step: one real item through the mask sampler, the generator, every
discriminator's view and the parser, so a network that does not fit the data fails in seconds
with the recipe key to blame, not after an earlier stage has run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import default_collate

from gfc_kit.errors import GfcError
from gfc_kit.interfaces import composite, generator_input
from gfc_kit.training.batches import step_generator, to_device

if TYPE_CHECKING:
    from gfc_kit.training.parts import RunParts


@torch.no_grad()
def check_parts(parts: RunParts) -> None:
    """Run one item of ``data.train`` (and of each stage's own data) through the networks, in eval
    mode and without touching the random state; the modes are restored after."""
    modes = {name: m.training for name, m in parts.modules.items()}
    with torch.random.fork_rng():
        try:
            for module in parts.modules.values():
                module.eval()
            _check_networks(parts)
            _check_stage_sizes(parts)
            _check_stages(parts)
        finally:
            for name, module in parts.modules.items():
                module.train(modes[name])


def _check_networks(parts: RunParts) -> None:
    batch = to_device(default_collate([parts.datasets["train"][0]]), parts.rt.device)
    image = batch["image"]
    try:
        mask = parts.sampler(batch, step_generator(parts.recipe.seed, 0)).to(image)
    except Exception as exc:
        raise GfcError(f"masks.train: fails on a {shape(image)} batch: {first_line(exc)}") from None
    if mask.shape != (1, 1, *image.shape[-2:]):
        raise GfcError(f"masks.train: gave masks of shape {shape(mask)} for a {shape(image)} batch; "
                       f"a mask sampler returns N×1×H×W")
    x = generator_input(image, mask, parts.recipe.train.hole_fill, None, parts.mask_channel)
    output = _run("model.generator", parts.generator, x).float()
    if output.shape != image.shape:
        raise GfcError(f"model.generator: gives {shape(output)} for a {shape(image)} image")
    comp = composite(output, image, mask)
    for name, judge in parts.judges.items():
        logits = _run(f"model.discriminators.{name}", lambda x, judge=judge: judge(x, mask), comp)
        if logits.shape != (1,):
            raise GfcError(f"model.discriminators.{name}: gives {shape(logits)}, not one logit per image")
    if "parser" in parts.modules:
        _run("model.parser", parts.modules["parser"], image)


def _check_stage_sizes(parts: RunParts) -> None:
    """The mask sampler and generator on one item of each stage with its own data or size."""
    for key, data in parts.datasets.items():
        if not key.startswith("stages."):
            continue
        batch = to_device(default_collate([data[0]]), parts.rt.device)
        image = batch["image"]
        try:
            mask = parts.sampler(batch, step_generator(parts.recipe.seed, 0)).to(image)
            x = generator_input(image, mask, parts.recipe.train.hole_fill, None, parts.mask_channel)
            output = parts.generator(x)
        except Exception as exc:
            raise GfcError(f"{key}: the generator or masks.train fail on its {shape(image)} images: "
                           f"{first_line(exc)}") from None
        if output.shape != image.shape:
            raise GfcError(f"{key}: the generator gives {shape(output)} for its {shape(image)} images")


def _check_stages(parts: RunParts) -> None:
    """Each stage object's own check, its error prefixed with the stage's recipe key."""
    for i, (stage, spec) in enumerate(zip(parts.stages, parts.recipe.stages)):
        check = getattr(stage, "check", None)
        if check is None:
            continue
        try:
            check(parts, spec)
        except GfcError as exc:
            raise GfcError(f"stages.{i}.train: {exc}") from None


def _run(key: str, network: Any, x: torch.Tensor) -> torch.Tensor:
    try:
        return network(x)
    except GfcError:
        raise
    except Exception as exc:
        raise GfcError(f"{key}: fails on a {shape(x)} input: {first_line(exc)}") from None


def shape(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
