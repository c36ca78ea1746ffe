"""Blenders: how a completed fill goes into a photo (the last step of completing a photo).

Each takes the photo and the fill as ``H×W×3`` float32 in ``[0, 1]`` and the hole as an ``H×W`` bool
array, and may change only pixels within :meth:`margin` pixels of the hole; the completer keeps
every other pixel as it was. ``paste`` is the hard composite; ``feather`` fades the fill out over
a band around the hole; ``poisson`` matches the fill's gradients to the photo's border
(gradient-domain blending, as the paper's released demo refines its result with ``PoissonJacobi.m``).
"""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np
from pydantic import Field

from gfc_kit import hookimpl


def distance_to_hole(hole: np.ndarray) -> np.ndarray:
    """Each pixel's Euclidean distance in pixels to the nearest hole pixel (0 inside the hole)."""
    return cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def hole_side(hole: np.ndarray) -> int:
    """The shorter side of the hole's bounding box, in pixels."""
    _, _, width, height = cv2.boundingRect(hole.astype(np.uint8))
    return min(width, height)


class Paste:
    """The fill inside the hole, the photo everywhere else: the hard composite."""

    def margin(self, hole: np.ndarray) -> int:
        return 0

    def __call__(self, photo: np.ndarray, fill: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return np.where(hole[..., None], fill, photo)


class Feather:
    """The fill inside the hole, fading linearly into the photo over ``width`` pixels around it
    (default: an eighth of the hole's shorter side, at least 2), which hides a hard edge where the
    fill's colour is slightly off."""

    def __init__(self, width: Annotated[int, Field(ge=1)] | None = None) -> None:
        self.width = width

    def margin(self, hole: np.ndarray) -> int:
        return self.width if self.width is not None else max(2, round(hole_side(hole) / 8))

    def __call__(self, photo: np.ndarray, fill: np.ndarray, hole: np.ndarray) -> np.ndarray:
        weight = np.clip(1 - distance_to_hole(hole) / (self.margin(hole) + 1), 0, 1)[..., None]
        return fill * weight + photo * (1 - weight)


class Poisson:
    """Gradient-domain blending (OpenCV's ``seamlessClone``, normal cloning): inside the hole and a
    ``margin``-pixel band around it the result keeps the fill's gradients and meets the photo
    exactly at the band's edge, so colour and brightness offsets of the fill disappear."""

    def __init__(self, margin: Annotated[int, Field(ge=1)] = 3) -> None:
        self.band = margin

    def margin(self, hole: np.ndarray) -> int:
        return self.band

    def __call__(self, photo: np.ndarray, fill: np.ndarray, hole: np.ndarray) -> np.ndarray:
        region = distance_to_hole(hole) <= self.band
        pad = self.band + 2  # seamlessClone needs the region clear of the image's border
        # where the region meets the border, the padding must hold the fill, not the photo's own
        # pixels under the hole, or the blend would pull them back in
        target = np.where(region[..., None], fill, photo)
        padded = [cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_REFLECT) for a in (target, fill)]
        mask = cv2.copyMakeBorder(region.astype(np.uint8) * 255, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        as_bytes = [np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8) for a in padded]
        x, y, width, height = cv2.boundingRect(mask)
        cloned = cv2.seamlessClone(as_bytes[1], as_bytes[0], mask, (x + width // 2, y + height // 2), cv2.NORMAL_CLONE)
        # seamlessClone works in bytes; its smooth correction (result - fill) is applied to the float
        # fill, so a 16-bit photo keeps its precision.
        correction = (cloned.astype(np.float32) - as_bytes[1].astype(np.float32)) / 255
        blended = padded[1] + correction
        blended = blended[pad:-pad, pad:-pad]
        return np.where(region[..., None], np.clip(blended, 0, 1), photo)


def paste() -> Paste:
    """The fill inside the hole, the photo elsewhere (a hard edge)."""
    return Paste()


def feather(width: Annotated[int, Field(ge=1)] | None = None) -> Feather:
    """The fill fading into the photo over ``width`` pixels around the hole (default: 1/8 of its shorter side)."""
    return Feather(width)


def poisson(margin: Annotated[int, Field(ge=1)] = 3) -> Poisson:
    """Gradient-domain (Poisson) blending over the hole and a ``margin``-pixel band (OpenCV seamlessClone)."""
    return Poisson(margin)


@hookimpl
def gfc_register(registry):
    registry.add("blender", "paste", paste)
    registry.add("blender", "feather", feather)
    registry.add("blender", "poisson", poisson)
