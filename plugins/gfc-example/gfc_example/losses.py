"""A loss on the composite: total variation across the hole's border, where seams show.

Liu et al. (*Image Inpainting for Irregular Holes Using Partial Convolutions*, ECCV 2018) add
this term to smooth the transition between filled and known pixels. It needs the composite, which
no pixel loss (``output, target, mask``) sees, so it declares ``inputs = "step"`` and gets the
whole step context from the trainer.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field


class CompositeTV:
    """Total variation of the composite over the hole dilated by ``band`` pixels (sum over pixels, mean over images)."""

    inputs: ClassVar[str] = "step"

    def __init__(self, band: Annotated[int, Field(ge=1, le=16)] = 1) -> None:
        """:param band: how far beyond the hole the seam region reaches, in pixels."""
        self.band = band

    def __call__(self, context) -> torch.Tensor:
        comp, mask = context.composite, context.mask
        region = F.max_pool2d(mask, 2 * self.band + 1, stride=1, padding=self.band)
        across = (comp[..., :, 1:] - comp[..., :, :-1]).abs() * torch.maximum(region[..., :, 1:], region[..., :, :-1])
        down = (comp[..., 1:, :] - comp[..., :-1, :]).abs() * torch.maximum(region[..., 1:, :], region[..., :-1, :])
        return across.flatten(1).sum(1).mean() + down.flatten(1).sum(1).mean()
