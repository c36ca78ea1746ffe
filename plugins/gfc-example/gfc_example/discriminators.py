"""A third discriminator and the view it judges: the hole with its surroundings.

The paper's local discriminator sees the hole's own box; ``hole_context`` shows a discriminator the
hole *and* a ring of known pixels around it (``scale`` times the hole's side), so it can judge how
the fill meets the photo. ``patch_discriminator`` is a small PatchGAN (Isola et al., 2017) that
takes any input size: its per-patch logits are averaged to one logit per image.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from gfc_kit.components.views import hole_boxes, resample


class HoleContext:
    """The square around each hole, ``scale`` times its side, resampled to the discriminator's side."""

    def __init__(self, scale: Annotated[float, Field(ge=1, le=4)] = 2.0,
                 size: Annotated[int, Field(ge=8)] = 32) -> None:
        """:param scale: the box's side as a multiple of the hole's longer side.
        :param size: the side it is resampled to when the discriminator takes any size."""
        self.scale, self.size = scale, size

    def __call__(self, images: torch.Tensor, mask: torch.Tensor, side: int | None) -> torch.Tensor:
        side = side or self.size
        h, w = images.shape[-2:]
        boxes = hole_boxes(mask, 1)  # the hole's own square
        centre = (boxes[:, 1:3] + boxes[:, 3:5]) / 2
        half = ((boxes[:, 3] - boxes[:, 1]) * self.scale / 2).clamp(max=min(h, w) / 2)[:, None]
        low = torch.minimum((centre - half).clamp_min(0), torch.tensor([w, h], device=mask.device) - 2 * half)
        return resample(images, torch.cat([boxes[:, :1], low, low + 2 * half], 1), side)


class PatchDiscriminator(nn.Module):
    """A PatchGAN: ``layers`` stride-2 convs, a 1-channel conv, logits averaged per image."""

    def __init__(self, width: Annotated[int, Field(ge=4)] = 32, layers: Annotated[int, Field(ge=1, le=5)] = 3) -> None:
        super().__init__()
        blocks, channels = [], 3
        for i in range(layers):
            out = width * 2**i
            blocks += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            channels = out
        self.body = nn.Sequential(*blocks, nn.Conv2d(channels, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean((1, 2, 3))
