"""LaMa's random masks (Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier
Convolutions", WACV 2022): the thin, medium and thick sets its ``random_{thin,medium,thick}_{256,512}``
data-generation configurations draw, with their parameters, as seeded mask samplers.

As LaMa's generator draws them: a mask is either brush strokes (always possible) or boxes (in
medium and thick, with weight 0.3 against the strokes' 1). Strokes: ``min_times..max_times`` of
them, each from a random pixel through 1–5 straight segments, each segment turned by a whole
number of radians (``0..max_angle - 1``, plus 0.01; mirrored on every other stroke), ``10 +
0..max_len - 1`` pixels long and ``5 + 0..max_width - 1`` wide. Boxes: ``min_times..max_times``
axis-aligned rectangles with sides ``bbox_min_size..bbox_max_size - 1`` kept ``margin`` pixels from
the edges. A mask covering more than ``max_area`` of the image (LaMa's ``max_tamper_area``, 0.5)
or nothing is drawn again. Pixel sizes are those of the configuration's square crop
(``resolution``, 256 or 512) and scale with the shorter side of the image they are drawn on. Every
random number comes from the torch generator, so a seed gives the same masks on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import cv2
import numpy as np
import torch
from pydantic import Field

from gfc_kit.components.masks.geometry import image_shape

Preset = Literal["thin", "medium", "thick"]


@dataclass(frozen=True)
class Strokes:
    min_times: int
    max_times: int
    max_width: int
    max_len: int
    max_angle: int = 4


@dataclass(frozen=True)
class Boxes:
    margin: int
    bbox_min_size: int
    bbox_max_size: int
    min_times: int
    max_times: int


BOX_WEIGHT = 0.3
"""LaMa's ``box_proba`` against ``irregular_proba`` 1 in the medium and thick configurations."""

PRESETS: dict[tuple[str, int], tuple[Strokes, Boxes | None]] = {
    ("thin", 256): (Strokes(4, 50, 10, 40), None),
    ("medium", 256): (Strokes(4, 5, 50, 100), Boxes(0, 10, 50, 1, 5)),
    ("thick", 256): (Strokes(1, 5, 100, 200), Boxes(10, 30, 150, 1, 3)),
    ("thin", 512): (Strokes(4, 70, 20, 100), None),
    ("medium", 512): (Strokes(4, 10, 100, 200), Boxes(0, 30, 150, 1, 5)),
    ("thick", 512): (Strokes(1, 5, 250, 450), Boxes(10, 30, 300, 1, 4)),
}
"""``configs/data_gen/random_{preset}_{resolution}.yaml`` of LaMa's repository, in pixels."""

_REDRAWS = 100


class LamaMasks:
    """LaMa's ``random_{preset}_{resolution}`` masks: brush strokes, or boxes (see the module)."""

    def __init__(
        self,
        preset: Preset = "medium",
        resolution: Literal[256, 512] = 256,
        max_area: Annotated[float, Field(gt=0, le=1)] = 0.5,
    ) -> None:
        """:param preset: ``thin``, ``medium`` or ``thick``.
        :param resolution: the configuration's crop side (256 or 512): its pixel sizes are scaled
            by the image's shorter side over this.
        :param max_area: masks covering more of the image are drawn again (LaMa's ``max_tamper_area``)."""
        self.preset = preset
        self.resolution = resolution
        self.max_area = max_area
        self.strokes, self.boxes = PRESETS[(preset, resolution)]

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        n, h, w, device = image_shape(batch)
        masks = [torch.from_numpy(self.draw(h, w, generator)) for _ in range(n)]
        return torch.stack(masks).unsqueeze(1).float().to(device)

    def draw(self, height: int, width: int, generator: torch.Generator | None = None) -> np.ndarray:
        """One ``height × width`` uint8 mask, 1 = hole."""
        scale = min(height, width) / self.resolution
        for _ in range(_REDRAWS):
            boxes = self.boxes is not None and _uniform(generator) * (1 + BOX_WEIGHT) >= 1
            mask = (_boxes(height, width, self.boxes, scale, generator) if boxes
                    else _strokes(height, width, self.strokes, scale, generator))
            if 0 < mask.mean() <= self.max_area:
                return mask
        return mask  # pragma: no cover - 100 empty or oversized draws in a row do not happen with LaMa's presets


def _uniform(generator: torch.Generator | None) -> float:
    return torch.rand(1, generator=generator, dtype=torch.float64).item()


def _integer(low: int, high: int, generator: torch.Generator | None) -> int:
    """A random integer in ``[low, high)`` (``low`` when the range is empty), as ``np.random.randint``."""
    return low if high <= low else int(torch.randint(low, high, (1,), generator=generator).item())


def _px(value: int, scale: float) -> int:
    return max(1, round(value * scale))


def _strokes(height: int, width: int, p: Strokes, scale: float, generator: torch.Generator | None) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    for i in range(_integer(p.min_times, p.max_times + 1, generator)):
        x, y = _integer(0, width, generator), _integer(0, height, generator)
        for _ in range(1 + _integer(0, 5, generator)):
            angle = 0.01 + _integer(0, p.max_angle, generator)
            if i % 2 == 0:
                angle = 2 * math.pi - angle
            length = _px(10, scale) + _integer(0, _px(p.max_len, scale), generator)
            thickness = _px(5, scale) + _integer(0, _px(p.max_width, scale), generator)
            end_x = int(np.clip(int(x + length * math.sin(angle)), 0, width))
            end_y = int(np.clip(int(y + length * math.cos(angle)), 0, height))
            cv2.line(mask, (x, y), (end_x, end_y), 1, thickness)
            x, y = end_x, end_y
    return mask


def _boxes(height: int, width: int, p: Boxes, scale: float, generator: torch.Generator | None) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    margin = round(p.margin * scale)
    low = _px(p.bbox_min_size, scale)
    high = max(low + 1, min(_px(p.bbox_max_size, scale), height - 2 * margin, width - 2 * margin))
    for _ in range(_integer(p.min_times, p.max_times + 1, generator)):
        box_w, box_h = _integer(low, high, generator), _integer(low, high, generator)
        x = _integer(margin, width - margin - box_w + 1, generator)
        y = _integer(margin, height - margin - box_h + 1, generator)
        mask[y:y + box_h, x:x + box_w] = 1
    return mask
