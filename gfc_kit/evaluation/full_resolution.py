"""Scoring at the photo's own resolution (``gfc-kit evaluate --full-resolution``): photos read at
their size, holes drawn at that size, and models completing them through the whole photo pipeline
(aligner or crop, model, refiner, blender), as ``gfc-kit complete`` does. A fill that is sharp at
128×128 and a blur once enlarged onto a 1024-px portrait scores as the blur it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from gfc_kit.errors import GfcError
from gfc_kit.imaging import MIN_SIDE, list_images, read_image, to_signed, to_uint8
from gfc_kit.inference.pipeline import PhotoCompleter
from gfc_kit.interfaces import MaskSampler


class PhotoFolder(Dataset):
    """Every photo under ``root`` (sorted, recursively) at its own size, as ``image`` ``3×H×W`` in [-1, 1]."""

    def __init__(self, root: Path, limit: int | None = None) -> None:
        if not Path(root).is_dir():
            raise GfcError(f"--data {root}: --full-resolution reads a folder of photos; no such folder")
        self.files = list_images(Path(root))[:limit]
        if not self.files:
            raise GfcError(f"--data {root}: no images in this folder")
        for path in self.files:
            _check_side(path)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": to_signed(read_image(self.files[index])), "path": str(self.files[index])}


def _check_side(path: Path) -> None:
    """Refuse a photo too small to complete, naming it, before any model runs (an unreadable one is
    named when it is read)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return
    if min(width, height) < MIN_SIDE:
        raise GfcError(f"--data {path}: the photo is {width}×{height} px; gfc-kit completes photos of at least "
                       f"{MIN_SIDE}×{MIN_SIDE}")


class AtPhotoSize:
    """A mask sampler for photos of many sizes: built at each photo's longer side (one per side,
    kept), so sizes given as fractions and strokes scale with the photo; it draws on the photo's
    own ``H×W``. A draw without a hole pixel is drawn again from the same generator."""

    def __init__(self, build: Any) -> None:
        """:param build: ``build(side) -> MaskSampler`` for square ``side × side`` images."""
        self.build = build
        self.samplers: dict[int, MaskSampler] = {}

    def __call__(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
        height, width = batch["image"].shape[-2:]
        side = max(height, width)
        if side not in self.samplers:  # built once per side (a mask folder is listed once)
            self.samplers[side] = self.build(side)
        sampler = self.samplers[side]
        for _ in range(16):
            mask = sampler(batch, generator)
            if bool((mask.flatten(1) > 0.5).any(1).all()):
                return mask
        raise GfcError(f"--masks: the sampler left no hole in a {width}×{height} photo after 16 draws")


class OnFace:
    """Holes on the largest face an aligner finds in each photo, at the photo's scale: the paper's
    region ``O1``…``O6`` (eyes, upper face, cheeks, lower face), or any sampler's mask drawn over
    the face's square (strokes, blobs), so every hole lies on the face the model completes. The
    faces of a photo are found once and kept for its other masks."""

    def __init__(self, region: str, aligner: Any, faces: dict[str, list] | None = None, build: Any = None) -> None:
        """:param region: ``O1``…``O6``, or a name for the holes ``build(side)`` (a sampler for
            ``side``-px squares) draws over the face's square."""
        self.region, self.aligner, self.build = region, aligner, build
        self.samplers: dict[int, MaskSampler] = {}
        self.faces = {} if faces is None else faces
        """Photo path → its faces, shared by the masks of one evaluation."""

    def __call__(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
        from gfc_kit.face_layout import CELEBA_CROP
        from gfc_kit.inference.pipeline import as_rgb8, region_hole

        holes = []
        for image, path in zip(batch["image"], batch["path"]):
            photo = to_uint8(image).permute(1, 2, 0).cpu().numpy()
            if path not in self.faces:
                self.faces[path] = sorted(self.aligner(as_rgb8(photo), CELEBA_CROP), key=lambda f: -f.side)
            if not self.faces[path]:
                raise GfcError(f"{path}: --masks {self.region}: the aligner finds no face in this photo")
            face = self.faces[path][0]
            if self.build is None:
                holes.append(torch.from_numpy(region_hole(face, self.region, photo.shape[:2])))
                continue
            side = max(16, round(face.side))
            if side not in self.samplers:
                self.samplers[side] = self.build(side)
            drawn = self.samplers[side]({"image": torch.zeros(1, 3, side, side)}, generator)
            square = drawn[0, 0].numpy().astype(np.uint8)
            # square pixels → the inner 90 % of the face's square (its edge stays inside) → photo pixels
            inner = np.array([[0.9 / side, 0, 0.05 + 0.45 / side], [0, 0.9 / side, 0.05 + 0.45 / side], [0, 0, 1]])
            to_photo = face.from_layout @ inner
            hole = cv2.warpAffine(square, to_photo, photo.shape[1::-1], flags=cv2.INTER_NEAREST)
            if not hole.any():
                raise GfcError(f"{path}: --masks {self.region}: the face lies outside the photo")
            holes.append(torch.from_numpy(hole > 0))
        return torch.stack(holes)[:, None].float()


class PipelineCompleter:
    """A :class:`PhotoCompleter` as a tensor completer (batches of one photo at its own size), so
    the evaluator scores the whole pipeline on the same holes as the classical completers."""

    def __init__(self, photos: PhotoCompleter) -> None:
        self.photos = photos

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        done = []
        for one, hole in zip(image, mask):
            photo = to_uint8(one).permute(1, 2, 0).cpu().numpy()
            filled = self.photos(np.ascontiguousarray(photo), (hole[0] > 0.5).cpu().numpy())
            done.append(to_signed(torch.from_numpy(filled).permute(2, 0, 1)))
        return torch.stack(done).to(image.device)


def thumbnail(image: torch.Tensor, side: int = 256) -> torch.Tensor:
    """The centred square of ``3×H×W`` resized to ``side``: photos of any size in one example grid."""
    height, width = image.shape[-2:]
    square = min(height, width)
    top, left = (height - square) // 2, (width - square) // 2
    crop = image[..., top:top + square, left:left + square].float()
    return F.interpolate(crop[None], size=(side, side), mode="bilinear", antialias=True, align_corners=False)[0]
