"""Discriminator views: what part of an image a discriminator judges (``model.discriminators.<name>.view``).

A view takes images ``N×3×H×W`` (real images, or the generator's composites), the holes
``N×1×H×W`` and the side its discriminator takes (``None`` when the discriminator takes any size)
and returns ``N×3×s×s``. It must be differentiable in the images: the generator's adversarial
gradient flows back through it.

- ``hole``: the square around each hole, at least the discriminator's side, so the whole hole is
  seen whatever its size, resampled to that side (the paper's local discriminator: for its 64×64
  holes and 64×64 patch this is the hole's pixels exactly);
- ``image``: the whole image (the paper's global discriminator), resized only if the
  discriminator takes another side;
- ``box``: a fixed box given as fractions of the image (e.g. the mouth region of aligned faces),
  for a third discriminator that needs only a recipe.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torchvision.ops import roi_align

from gfc_kit.hookspecs import hookimpl

Fraction = Annotated[float, Field(ge=0, le=1)]


def resample(images: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """The ``boxes`` (``N×5``: batch index, x0, y0, x1, y1 in pixels) of ``images`` resampled to
    ``side × side``. A box of exactly ``side`` pixels at whole coordinates gives its pixels
    unchanged; a larger one is averaged down (roi_align's adaptive sampling), never aliased."""
    return roi_align(images, boxes.to(images.dtype), output_size=(side, side), sampling_ratio=-1, aligned=True)


def hole_boxes(mask: torch.Tensor, side: int) -> torch.Tensor:
    """Per image, the square box (``N×5`` for :func:`resample`) centred on the hole's bounding box,
    with a side of the hole's longer extent but at least ``side``, kept inside the image."""
    n, _, h, w = mask.shape
    rows, cols = mask[:, 0].amax(2) > 0, mask[:, 0].amax(1) > 0
    index_h, index_w = torch.arange(h, device=mask.device), torch.arange(w, device=mask.device)
    top, bottom = _first(rows, index_h), _last(rows, index_h) + 1
    left, right = _first(cols, index_w), _last(cols, index_w) + 1
    has_hole = rows.any(1)
    extent = torch.maximum(bottom - top, right - left).where(has_hole, torch.zeros_like(top))
    box = extent.clamp_min(side).clamp_max(min(h, w))
    centre_y = ((top + bottom) / 2).where(has_hole, torch.full_like(top, h / 2))
    centre_x = ((left + right) / 2).where(has_hole, torch.full_like(top, w / 2))
    x0 = torch.minimum((centre_x - box / 2).round().clamp_min(0), w - box)
    y0 = torch.minimum((centre_y - box / 2).round().clamp_min(0), h - box)
    batch = torch.arange(n, device=mask.device, dtype=x0.dtype)
    return torch.stack([batch, x0, y0, x0 + box, y0 + box], 1)


def _first(flags: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.where(flags, index, index.numel()).amin(1).float()


def _last(flags: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.where(flags, index, -1).amax(1).float()


class HoleView:
    """The square around each hole (at least the discriminator's side), resampled to that side."""

    def __call__(self, images: torch.Tensor, mask: torch.Tensor, side: int | None) -> torch.Tensor:
        side = side or images.shape[-1] // 2
        return resample(images, hole_boxes(mask, side), side)


class ImageView:
    """The whole image, resized only when the discriminator takes another side."""

    def __call__(self, images: torch.Tensor, mask: torch.Tensor, side: int | None) -> torch.Tensor:
        if side is None or images.shape[-2:] == (side, side):
            return images
        return F.interpolate(images, size=(side, side), mode="bilinear", antialias=True, align_corners=False)


class BoxView:
    """A fixed box, in fractions of the image's width and height, resampled to the discriminator's side."""

    def __init__(self, box: tuple[Fraction, Fraction, Fraction, Fraction]) -> None:
        """:param box: ``(x0, y0, x1, y1)`` as fractions of the image, e.g. ``[0.25, 0.6, 0.75, 0.95]``
            for the mouth of an aligned face."""
        x0, y0, x1, y1 = box
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"box {list(box)} is empty: x1 must exceed x0 and y1 must exceed y0")
        self.box = box

    def __call__(self, images: torch.Tensor, mask: torch.Tensor, side: int | None) -> torch.Tensor:
        n, _, h, w = images.shape
        x0, y0, x1, y1 = self.box
        pixels = torch.tensor([x0 * w, y0 * h, x1 * w, y1 * h], device=images.device)
        side = side or round(max((x1 - x0) * w, (y1 - y0) * h))
        batch = torch.arange(n, device=images.device, dtype=pixels.dtype)[:, None]
        return resample(images, torch.cat([batch, pixels.expand(n, 4)], 1), side)


def hole() -> HoleView:
    """The square around each hole, at least the discriminator's side (the paper's local view)."""
    return HoleView()


def image() -> ImageView:
    """The whole image (the paper's global view)."""
    return ImageView()


@hookimpl
def gfc_register(registry):
    registry.add("view", "hole", hole)
    registry.add("view", "image", image)
    registry.add("view", "box", BoxView)
