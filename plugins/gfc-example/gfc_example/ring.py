"""A ring (annulus) hole: thin, curved holes that cross several face parts at once."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

Fraction = Annotated[float, Field(gt=0, le=1)]


class Ring:
    """An annulus hole at a random centre; radius and thickness are fractions of the image side."""

    def __init__(
        self,
        radius: tuple[Fraction, Fraction] = (0.15, 0.35),
        thickness: tuple[Fraction, Fraction] = (0.05, 0.12),
    ) -> None:
        if radius[0] > radius[1] or thickness[0] > thickness[1]:
            raise ValueError("radius and thickness are (low, high) ranges")
        self.radius = radius
        self.thickness = thickness

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        image = batch["image"]
        n, _, h, w = image.shape
        side = min(h, w)
        r = torch.rand(n, 4, generator=generator)
        centre_x, centre_y = r[:, 0] * w, r[:, 1] * h
        radius = (self.radius[0] + r[:, 2] * (self.radius[1] - self.radius[0])) * side
        thickness = (self.thickness[0] + r[:, 3] * (self.thickness[1] - self.thickness[0])) * side
        ys = torch.arange(h, dtype=torch.float32).view(1, h, 1) + 0.5
        xs = torch.arange(w, dtype=torch.float32).view(1, 1, w) + 0.5
        distance = ((xs - centre_x.view(n, 1, 1)) ** 2 + (ys - centre_y.view(n, 1, 1)) ** 2).sqrt()
        ring = (distance - radius.view(n, 1, 1)).abs() <= thickness.view(n, 1, 1) / 2
        return ring.float().unsqueeze(1).to(image.device)
