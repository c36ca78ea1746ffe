"""Classical hole filling, as ``completer`` components: baselines for ``gfc-kit evaluate``.

A completer takes images ``N×3×H×W`` in [-1, 1] and masks ``N×1×H×W`` (1 = hole) and returns the
composited result: known pixels unchanged, holes filled. Telea and Navier-Stokes are OpenCV's
``cv2.inpaint``; the mean fill needs nothing.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from gfc_kit.hookspecs import hookimpl
from gfc_kit.imaging import to_signed, to_uint8
from gfc_kit.interfaces import composite, fill_hole


class MeanFill:
    """Fill each hole with its image's mean colour over the known pixels."""

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return fill_hole(image, mask, "mean")


class OpenCVInpaint:
    """OpenCV's ``cv2.inpaint`` with the Telea (fast marching) or Navier-Stokes method, on the
    8-bit image, as users of OpenCV get it."""

    def __init__(self, method: str, radius: float) -> None:
        import cv2  # a dependency since 0.2; imported here so listing components stays fast

        self.cv2 = cv2
        self.flag = {"telea": cv2.INPAINT_TELEA, "navier_stokes": cv2.INPAINT_NS}[method]
        self.radius = radius

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pixels = to_uint8(image).permute(0, 2, 3, 1).cpu().numpy()
        holes = (mask[:, 0] > 0.5).cpu().numpy().astype(np.uint8) * 255
        filled = np.stack([self.cv2.inpaint(np.ascontiguousarray(p), h, self.radius, self.flag)
                           for p, h in zip(pixels, holes)])
        output = to_signed(torch.from_numpy(filled).permute(0, 3, 1, 2)).to(image.device)
        return composite(output, image, (mask > 0.5).to(image))


def telea(radius: Annotated[float, Field(gt=0)] = 5.0) -> OpenCVInpaint:
    """Telea's fast-marching inpainting (OpenCV); ``radius`` is the neighbourhood in pixels."""
    return OpenCVInpaint("telea", radius)


def navier_stokes(radius: Annotated[float, Field(gt=0)] = 5.0) -> OpenCVInpaint:
    """Bertalmio's Navier-Stokes inpainting (OpenCV); ``radius`` is the neighbourhood in pixels."""
    return OpenCVInpaint("navier_stokes", radius)


def mean_fill() -> MeanFill:
    """Each hole filled with the mean colour of its image's known pixels."""
    return MeanFill()


@hookimpl
def gfc_register(registry):
    registry.add("completer", "telea", telea)
    registry.add("completer", "navier_stokes", navier_stokes)
    registry.add("completer", "mean_fill", mean_fill)
