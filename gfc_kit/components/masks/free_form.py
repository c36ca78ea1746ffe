"""Free-form brush-stroke holes, as DeepFill v2 draws them, with the hole area held in a range.

Yu et al., "Free-Form Image Inpainting with Gated Convolution" (ICCV 2019), its free-form mask
algorithm as the released ``brush_stroke_mask`` implements it: a stroke starts at a random point
and zig-zags through 4–11 vertices, turning by a random angle around 2π/5 (alternately one way
and the other) and moving a normally distributed length (mean = image diagonal / 8); it is drawn
as a thick line with round joints and ends; the finished mask may be flipped either way.
DeepFill v2 draws 1–3 strokes and takes whatever area results; here strokes are added until the
hole fraction lies in ``area`` (see :class:`FreeForm`), so training and evaluation can ask for a
size range, as the NVIDIA mask set's hole-ratio bins do. Every random number comes from the torch
generator, so a seed gives the same masks everywhere.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
from PIL import Image, ImageDraw
from pydantic import AfterValidator, Field

from gfc_kit.components.masks.geometry import Size, image_shape, to_pixels
from gfc_kit.hookspecs import hookimpl

_VERTICES = (4, 11)  # DeepFill v2: np.random.randint(4, 12)
_MEAN_ANGLE = 2 * math.pi / 5
_ANGLE_RANGE = 2 * math.pi / 15
_MIN_WIDTH = 12 / 40  # DeepFill v2 brushes are 12–40 px wide; the narrowest relative to the widest
_ATTEMPTS = 10  # restarts before settling for the largest mask that stayed under area[1]
_DRAWS_PER_STROKE = 4  # stroke draws (kept or rejected) per allowed stroke, within one attempt


def _check_area(area: tuple[float, float]) -> tuple[float, float]:
    if not 0 <= area[0] <= area[1] <= 1:
        raise ValueError("the area must be (low, high) with 0 <= low <= high <= 1")
    return area


class FreeForm:
    """Free-form brush strokes (DeepFill v2, Yu et al. 2019) covering a chosen fraction of the image.

    Each mask draws a target fraction uniformly in ``area`` (so sizes spread over the range
    instead of piling up at its low end) and is built in up to ``_ATTEMPTS`` attempts. An attempt
    starts empty and draws strokes one at a time. A stroke that would push the hole fraction above
    ``area[1]`` is dropped: the mask is done if it already covers ``area[0]``, else another stroke
    is drawn. Any other stroke is kept, and the mask is done once it reaches the target or has
    ``max_strokes`` strokes. An attempt that ends below ``area[0]`` (or after ``4 × max_strokes``
    draws) is discarded; if all fail, the largest mask seen is used (below ``area[0]``, never
    above ``area[1]``). At 128 px with the defaults a mask takes about 1–8 strokes.
    """

    def __init__(
        self,
        area: Annotated[tuple[float, float], AfterValidator(_check_area)] = (0.1, 0.4),
        max_strokes: Annotated[int, Field(ge=1)] = 10,
        max_width: Size = 0.15,
    ) -> None:
        """:param area: ``(low, high)`` bounds of the hole's fraction of the image.
        :param max_strokes: the most strokes one mask may have.
        :param max_width: the widest brush, pixels or a fraction of the shorter image side
            (DeepFill v2: 40 px at 256 px, about 0.15); brushes are 0.3–1 times this wide."""
        self.area = area
        self.max_strokes = max_strokes
        self.max_width = max_width

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        n, h, w, device = image_shape(batch)
        widest = to_pixels(self.max_width, min(h, w), "max_width")
        masks = [self._mask(h, w, widest, generator) for _ in range(n)]
        return torch.stack(masks).unsqueeze(1).to(device)

    def _mask(self, h: int, w: int, widest: int, generator: torch.Generator | None) -> torch.Tensor:
        """One ``H×W`` float mask whose hole fraction lies in ``area`` (see the class docstring)."""
        low, high = self.area[0] * h * w, self.area[1] * h * w
        target = low + (high - low) * torch.rand(1, generator=generator, dtype=torch.float64).item()
        best, best_holes = Image.new("L", (w, h)), -1
        for _ in range(_ATTEMPTS):
            canvas, holes, kept = Image.new("L", (w, h)), 0, 0
            for _ in range(_DRAWS_PER_STROKE * self.max_strokes):
                trial = canvas.copy()
                _stroke(trial, widest, generator)
                trial_holes = trial.histogram()[255]
                if trial_holes > high:
                    if holes >= low:
                        break
                    continue
                canvas, holes, kept = trial, trial_holes, kept + 1
                if holes >= target or kept == self.max_strokes:
                    break
            if holes > best_holes:
                best, best_holes = canvas, holes
            if holes >= low:
                break
        mask = torch.frombuffer(bytearray(best.tobytes()), dtype=torch.uint8).view(h, w).float() / 255
        flips = (torch.rand(2, generator=generator) < 0.5).nonzero().flatten().tolist()
        return mask.flip(flips)  # DeepFill v2 flips each mask left-right and up-down at random


def _stroke(canvas: Image.Image, widest: int, generator: torch.Generator | None) -> None:
    """Draw one DeepFill v2 brush stroke (value 255) on ``canvas``."""
    w, h = canvas.size
    most = _VERTICES[1]
    u = torch.rand(6 + most, generator=generator, dtype=torch.float64).tolist()
    lengths = torch.randn(most, generator=generator, dtype=torch.float64).tolist()
    vertices = _VERTICES[0] + int(u[0] * (_VERTICES[1] - _VERTICES[0] + 1))
    angle_min = _MEAN_ANGLE - u[1] * _ANGLE_RANGE
    angle_max = _MEAN_ANGLE + u[2] * _ANGLE_RANGE
    radius = math.hypot(w, h) / 8
    width = max(1, round(widest * (_MIN_WIDTH + (1 - _MIN_WIDTH) * u[3])))
    points = [(u[4] * (w - 1), u[5] * (h - 1))]
    for i in range(vertices):
        angle = angle_min + (angle_max - angle_min) * u[6 + i]
        if i % 2 == 0:
            angle = 2 * math.pi - angle
        step = min(max(radius + radius / 2 * lengths[i], 0.0), 2 * radius)
        x, y = points[-1]
        x = min(max(x + step * math.cos(angle), 0.0), w - 1)
        y = min(max(y + step * math.sin(angle), 0.0), h - 1)
        points.append((x, y))
    draw = ImageDraw.Draw(canvas)
    draw.line(points, fill=255, width=width)
    r = width / 2
    for x, y in points:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


@hookimpl
def gfc_register(registry):
    registry.add("mask_sampler", "free_form", FreeForm)
