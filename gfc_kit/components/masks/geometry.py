"""What the mask samplers share: sizes given in pixels or as fractions, and boxes → mask tensors.

Recipes say ``size: 64`` (pixels) or ``size: 0.5`` (half the image side) so that one recipe works
at 64 and at 128 pixels; every sampler turns both into pixels the same way, here.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import AfterValidator, Field

from gfc_kit.errors import GfcError


def _fraction_at_most_one(size: int | float) -> int | float:
    if isinstance(size, float) and size > 1:
        raise ValueError("a fraction of the image side must be at most 1; give pixels as an int")
    return size


Size = Annotated[int | float, Field(gt=0), AfterValidator(_fraction_at_most_one)]
"""A length: an ``int`` is pixels, a ``float`` in ``(0, 1]`` a fraction of the image side.

One bounded union rather than two bounded branches, so listings read ``int | float >0`` and a
``2.0`` is refused as a fraction instead of quietly becoming 2 pixels.
"""


def image_shape(batch: dict) -> tuple[int, int, int, torch.device]:
    """``(N, H, W, device)`` of ``batch["image"]`` (``N×3×H×W``)."""
    n, _, h, w = batch["image"].shape
    return n, h, w, batch["image"].device


def to_pixels(size: int | float, side: int, what: str = "size") -> int:
    """``size`` in pixels on an image side of ``side`` pixels; at least 1, at most ``side``.

    A fraction rounds to the nearest pixel. An ``int`` larger than the image is the recipe's
    mistake, not something to clip silently.
    """
    if isinstance(size, float):
        return min(side, max(1, round(size * side)))
    if size > side:
        raise GfcError(
            f"mask {what} {size} px is larger than the {side} px image; give a fraction such as 0.5")
    return size


def box_masks(boxes: torch.Tensor, height: int, width: int, device: torch.device) -> torch.Tensor:
    """``N×1×H×W`` float32 masks on ``device``, 1 inside each row's box ``(x0, y0, x1, y1)``
    (pixels, end excluded; fractional corners round to the nearest pixel edge)."""
    boxes = boxes.to(device).round().long()
    x0, y0, x1, y1 = (boxes[:, i, None, None] for i in range(4))
    rows = torch.arange(height, device=device)[None, :, None]
    cols = torch.arange(width, device=device)[None, None, :]
    inside = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)
    return inside.unsqueeze(1).float()
