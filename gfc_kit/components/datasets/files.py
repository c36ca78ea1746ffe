"""What every file-backed dataset shares: finding images, decoding them, skipping unreadable ones,
cropping and resizing image, labels and landmarks together, and the paper's augmentation."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch.utils.data import Dataset
from torchvision.transforms.v2.functional import resize

from gfc_kit.errors import DataError
from gfc_kit.imaging import MIN_SIDE, to_signed

log = logging.getLogger("gfc_kit.data")

Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in pixels; may reach outside the image (the outside is edge-padded)."""

Fit = Literal["center_crop", "resize", "pad"]
"""How a non-square image becomes square: crop its centre, stretch it, or pad it to a square."""

# Horizontal flip swaps left and right ("left" = image-left): brows 2<->3, eyes 4<->5, and the
# CelebA 5-point order (left eye, right eye, nose, left mouth corner, right mouth corner).
_FLIP_CLASSES = torch.tensor([0, 1, 3, 2, 5, 4, 6, 7, 8, 9, 10])
_FLIP_POINTS = {5: [1, 0, 2, 4, 3]}


class Augmentation(BaseModel):
    """Random geometric jitter; the defaults are the paper's: shift ±2.5 %, rotation ±5°, flip."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    shift: Annotated[float, Field(ge=0, le=0.5)] = 0.025
    """Largest shift, as a fraction of the image side, in x and y independently."""
    rotation: Annotated[float, Field(ge=0, le=180)] = 5.0
    """Largest rotation in degrees, either way."""
    flip: bool = True
    """Mirror half of the images left to right (labels and landmarks swap sides)."""
    scale: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = (1.0, 1.0)
    """Zoom range ``(low, high)``, uniform: above 1 the face fills more of the image (a closer
    crop), below 1 less (borders reflected). Off by default, as in the paper; a model that should
    work on faces cropped closer or wider than its training layout learns them here."""


def fit_box(width: int, height: int, fit: Fit) -> Box:
    """The square-making box for an image of ``width × height`` under ``fit``."""
    if fit == "resize":
        return (0, 0, width, height)
    side = min(width, height) if fit == "center_crop" else max(width, height)
    x0, y0 = (width - side) / 2, (height - side) / 2
    return (x0, y0, x0 + side, y0 + side)


def crop_resize(sample: dict[str, Any], box: Box, size: int) -> dict[str, Any]:
    """Crop ``sample``'s image (uint8 or float ``3×H×W``), labels and landmarks to ``box`` and resize
    to ``size × size``: image with antialiasing, labels by nearest neighbour."""
    image = sample["image"]
    height, width = image.shape[-2:]
    x0, y0, x1, y1 = (round(v) for v in box)
    pad = (max(0, -x0), max(0, x1 - width), max(0, -y0), max(0, y1 - height))
    out = dict(sample)
    image = image.float()
    if any(pad):
        image = F.pad(image[None], pad, mode="replicate")[0]
    ox, oy = x0 + pad[0], y0 + pad[2]
    image = image[:, oy : oy + y1 - y0, ox : ox + x1 - x0]
    out["image"] = resize(image, [size, size], antialias=True)
    if "labels" in sample:
        labels = sample["labels"]
        if any(pad):
            labels = F.pad(labels[None], pad, value=0)[0]
        labels = labels[oy : oy + y1 - y0, ox : ox + x1 - x0]
        out["labels"] = F.interpolate(labels[None, None].float(), size=(size, size), mode="nearest-exact")[0, 0].long()
    if "landmarks" in sample:  # pixel centres: x' = (x - x0 + 0.5) * scale - 0.5
        scale = torch.tensor([size / (x1 - x0), size / (y1 - y0)])
        out["landmarks"] = (sample["landmarks"] - torch.tensor([x0, y0]) + 0.5) * scale - 0.5
    return out


def augment(sample: dict[str, Any], aug: Augmentation, generator: torch.Generator | None = None) -> dict[str, Any]:
    """One random shift / rotation / flip applied to image, labels and landmarks alike.

    A single affine resampling with reflected borders, so rotated corners hold image content
    rather than a fill colour.
    """
    image = sample["image"].float()
    size = image.shape[-1]
    r = torch.rand(4, generator=generator)
    angle = math.radians((2 * r[0].item() - 1) * aug.rotation)
    shift = ((2 * r[1:3] - 1) * aug.shift * 2).tolist()  # normalised coordinates span 2
    flip = aug.flip and r[3].item() < 0.5
    zoom = 1.0
    if aug.scale != (1.0, 1.0):  # drawn only when asked, so other recipes keep their random stream
        low, high = aug.scale
        zoom = low + (high - low) * torch.rand(1, generator=generator).item()
    # forward map in normalised coords: p_out = zoom R @ S @ p_in + t, S mirrors x when flipping
    cos, sin = math.cos(angle), math.sin(angle)
    forward = zoom * torch.tensor([[cos, -sin], [sin, cos]]) @ torch.diag(torch.tensor([-1.0 if flip else 1.0, 1.0]))
    t = torch.tensor(shift)
    inverse = torch.linalg.inv(forward)
    theta = torch.cat([inverse, (-inverse @ t)[:, None]], dim=1)[None]
    grid = F.affine_grid(theta, [1, 1, size, size], align_corners=False)
    out = dict(sample)
    out["image"] = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="reflection", align_corners=False)[0]
    if "labels" in sample:
        labels = F.grid_sample(sample["labels"][None, None].float(), grid, mode="nearest",
                               padding_mode="reflection", align_corners=False)[0, 0].long()
        out["labels"] = _FLIP_CLASSES[labels] if flip else labels
    if "landmarks" in sample:
        points = (sample["landmarks"] + 0.5) / size * 2 - 1
        points = points @ forward.T + t
        points = (points + 1) / 2 * size - 0.5
        if flip:
            order = _FLIP_POINTS.get(len(points))
            if order is None:
                raise DataError(f"cannot flip {len(points)} landmarks: only the 5-point CelebA order is known")
            points = points[order]
        out["landmarks"] = points
    return out


class FileDataset(Dataset):
    """Items read from files. An unreadable file is skipped: the next readable item stands in and a
    warning counts the skipped files, so one corrupt JPEG never ends a long run."""

    def __init__(self, files: list[Path], image_size: int, augment: Augmentation | None) -> None:
        self.files = files
        self.image_size = image_size
        self.augment = augment
        self.skipped: set[Path] = set()

    def read(self, index: int) -> dict[str, Any]:
        """The raw item ``index``: uint8 ``image`` plus ``labels``/``landmarks`` when there are any,
        already square and ``image_size`` wide (via :func:`crop_resize`)."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.files)

    def check(self) -> int:
        """Leave out the files whose image header cannot be read, or whose image is under
        :data:`~gfc_kit.imaging.MIN_SIDE` px on a side (a 1×1 image enlarged is one flat colour),
        before a run starts (a truncated body is still caught, and skipped, when the file is
        decoded); return how many. No file left is a :class:`DataError` naming the folder."""
        from PIL import Image

        readable = []
        for path in self.files:
            try:
                with Image.open(path) as image:
                    width, height = image.size  # the header is parsed on open
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                self._skip(path, exc)
                continue
            if min(width, height) < MIN_SIDE:
                self.skipped.add(path)
                log.warning("skipped image %s: %d×%d px, under %d×%d", path, width, height, MIN_SIDE, MIN_SIDE)
                continue
            readable.append(path)
        if not readable:
            folders = sorted({str(p.parent) for p in self.files})
            raise DataError(f"{', '.join(folders[:3])}: none of the {len(self.files)} image files is a readable "
                            f"image of at least {MIN_SIDE}×{MIN_SIDE} px (first: {self.files[0].name})")
        dropped = len(self.files) - len(readable)
        self.files = readable
        return dropped

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        for step in range(len(self)):
            i = (index + step) % len(self)
            if self.files[i] in self.skipped:
                continue
            try:
                sample = self.read(i)
            except (OSError, RuntimeError, ValueError) as exc:
                self._skip(self.files[i], exc)
                continue
            if self.augment is not None:
                sample = augment(sample, self.augment)
            sample["image"] = to_signed(sample["image"]).clamp(-1, 1)
            sample["path"] = str(self.files[i])
            return sample
        raise DataError(f"{self.files[0].parent}: none of the {len(self)} images could be read")

    def _skip(self, path: Path, exc: Exception) -> None:
        self.skipped.add(path)
        log.warning("skipped unreadable image %s (%d skipped so far): %s", path, len(self.skipped),
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

