"""A mixture of mask samplers: each image's hole comes from one of several, drawn by weight, so
one run trains on boxes and brush strokes alike (a model that saw only boxes loses to the
classical methods on strokes)."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field

from gfc_kit.errors import GfcError
from gfc_kit.hookspecs import hookimpl


class Mixture:
    """Each image's hole from one of ``samplers`` (recipe entries ``{type: …, …}``), chosen with
    probability proportional to ``weights`` (default: equal)."""

    component_params = {"samplers": "mask_sampler"}
    """Parameters that hold recipe entries of a kind: ``recipe check`` checks them as entries."""

    def __init__(self, samplers: Annotated[list[dict[str, Any]], Field(min_length=1)],
                 weights: list[Annotated[float, Field(gt=0)]] | None = None) -> None:
        from gfc_kit.factory import build

        if weights is not None and len(weights) != len(samplers):
            raise GfcError(f"weights: {len(weights)} given for {len(samplers)} samplers")
        for i, spec in enumerate(samplers):
            if not isinstance(spec, dict) or "type" not in spec:
                raise GfcError(f"samplers.{i}: needs a 'type' (a mask sampler's name)")
        self.samplers = [build("mask_sampler", spec, ("samplers", i)) for i, spec in enumerate(samplers)]
        self.weights = torch.tensor(weights or [1.0] * len(samplers), dtype=torch.float64)

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        image = batch["image"]
        choice = torch.multinomial(self.weights, len(image), replacement=True, generator=generator)
        masks = torch.zeros(len(image), 1, *image.shape[-2:], device=image.device)
        for k, sampler in enumerate(self.samplers):
            index = (choice == k).nonzero().flatten()
            if len(index):
                part = {key: value[index] if torch.is_tensor(value) and len(value) == len(image) else value
                        for key, value in batch.items()}
                masks[index] = sampler(part, generator).to(masks)
        return masks


@hookimpl
def gfc_register(registry):
    registry.add("mask_sampler", "mixture", Mixture)
