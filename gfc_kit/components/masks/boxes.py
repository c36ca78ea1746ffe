"""Box holes: the paper's training square, a centred square, and the face-region boxes it tests on.

GFC (Li et al., CVPR 2017) trains with one 64×64 square at a random position (released code,
DESIGN.md section 7) and reports PSNR/SSIM on six masks O1–O6 that each hide a whole face
component (paper Fig. 7, Table 1). The O boxes below are fixed fractions of the image, for faces
cropped the way the paper's data is (DCGAN's ``crop_celebA.lua``: CelebA aligned 178×218, box
(30, 40, 168, 178), resized). Named parts (``left_eye``, ``mouth``, ...) follow each face instead:
from its parsing labels when the batch has them, else from its 5 landmarks, so they stay on the
part when a face is not perfectly aligned.

"Left" is image-left throughout, as in CelebA's landmark names and the parsing classes.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import AfterValidator, Field

from gfc_kit.components.masks.geometry import Size, box_masks, image_shape, to_pixels
from gfc_kit.errors import DataError, GfcError
from gfc_kit.face_layout import MEAN_LANDMARKS
from gfc_kit.hookspecs import hookimpl

Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)``, end excluded."""

O_BOXES: dict[str, Box] = {
    #      x0     y0     x1     y1     fractions of W and H; what the box hides
    "O1": (0.150, 0.350, 0.420, 0.610),  # left eye and brow
    "O2": (0.428, 0.350, 0.698, 0.610),  # right eye and brow
    "O3": (0.110, 0.320, 0.740, 0.620),  # upper face: both eyes and brows
    "O4": (0.060, 0.320, 0.424, 0.960),  # left face: image-left half, brows to chin
    "O5": (0.424, 0.320, 0.790, 0.960),  # right face: image-right half, brows to chin
    "O6": (0.170, 0.580, 0.680, 0.960),  # lower face: nose, mouth and chin
}
"""The paper's O1–O6 region masks on a ``crop_celebA.lua`` face; eyes sit at y ≈ 0.52, the
mouth at y ≈ 0.81, the face's vertical mid-line at x ≈ 0.424 (see :data:`gfc_kit.face_layout.MEAN_LANDMARKS`)."""

PARTS: dict[str, tuple[tuple[int, ...], tuple[int, ...], Box]] = {
    # name: (label classes, landmarks, growth (x0, y0, x1, y1) of the landmarks' box in eye distances)
    "left_eye": ((4,), (0,), (-0.30, -0.17, 0.30, 0.17)),
    "right_eye": ((5,), (1,), (-0.30, -0.17, 0.30, 0.17)),
    "eyes": ((4, 5), (0, 1), (-0.30, -0.17, 0.30, 0.17)),
    "left_brow": ((2,), (0,), (-0.42, -0.55, 0.35, -0.18)),
    "right_brow": ((3,), (1,), (-0.35, -0.55, 0.42, -0.18)),
    "brows": ((2, 3), (0, 1), (-0.42, -0.55, 0.42, -0.18)),
    "nose": ((6,), (2,), (-0.30, -0.62, 0.30, 0.15)),
    "mouth": ((7, 8, 9), (3, 4), (-0.10, -0.30, 0.10, 0.35)),
}
"""Named face parts: their parsing classes (upper lip + inner mouth + lower lip make the mouth),
and, when labels are missing, the landmarks they sit around (CelebA order: left eye, right eye,
nose, left and right mouth corner) with how far the box reaches beyond those points, in units of
the distance between the eyes (brows: a band above the eye, reaching further outwards)."""

Region = Literal[
    "O1", "O2", "O3", "O4", "O5", "O6",
    "left_eye", "right_eye", "eyes", "left_brow", "right_brow", "brows", "nose", "mouth",
]  # fmt: skip


def _check_regions(region: str | list[str]) -> str | list[str]:
    if not region:
        raise ValueError("give at least one region")
    return region


class RandomSquare:
    """One square hole per image at a uniformly random position inside it (GFC's training mask)."""

    def __init__(self, size: Size = 64) -> None:
        """:param size: side of the square: pixels, or a fraction of the image's shorter side."""
        self.size = size

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        n, h, w, device = image_shape(batch)
        side = to_pixels(self.size, min(h, w))
        x0 = torch.randint(w - side + 1, (n,), generator=generator)
        y0 = torch.randint(h - side + 1, (n,), generator=generator)
        return box_masks(torch.stack([x0, y0, x0 + side, y0 + side], 1), h, w, device)


class RandomBox:
    """One rectangle per image, width and height each drawn from a range, at a random position.

    Not the paper's training mask (a fixed square): the face-region masks it tests on (O1–O6) are
    rectangles from 27 % × 26 % to 63 % × 30 % and 36 % × 64 % of the face, so a model meant to fill
    them all learns from holes of those shapes.
    """

    def __init__(self, min_size: Size = 0.25, max_size: Size = 0.65) -> None:
        """:param min_size: the shortest side: pixels, or a fraction of the image's shorter side.
        :param max_size: the longest side, likewise."""
        self.min_size, self.max_size = min_size, max_size

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        n, h, w, device = image_shape(batch)
        low = to_pixels(self.min_size, min(h, w), "min_size")
        high = to_pixels(self.max_size, min(h, w), "max_size")
        if low > high:
            raise GfcError(f"mask min_size {self.min_size} is larger than max_size {self.max_size}")
        sides = torch.randint(low, high + 1, (n, 2), generator=generator)
        x0 = (torch.rand(n, generator=generator) * (w - sides[:, 0] + 1)).floor()
        y0 = (torch.rand(n, generator=generator) * (h - sides[:, 1] + 1)).floor()
        return box_masks(torch.stack([x0, y0, x0 + sides[:, 0], y0 + sides[:, 1]], 1), h, w, device)


class Center:
    """A square hole in the middle of every image (Context Encoders' central mask, Pathak et al. 2016)."""

    def __init__(self, size: Size = 0.5) -> None:
        """:param size: side of the square: pixels, or a fraction of the image's shorter side."""
        self.size = size

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        n, h, w, device = image_shape(batch)
        side = to_pixels(self.size, min(h, w))
        x0, y0 = (w - side) // 2, (h - side) // 2
        return box_masks(torch.tensor([[x0, y0, x0 + side, y0 + side]]).expand(n, 4), h, w, device)


class Regions:
    """The paper's face-region masks O1–O6 (Li et al. 2017, Fig. 7) and boxes around named face parts.

    ``O1``–``O6`` are the fixed boxes of :data:`O_BOXES`. A part of :data:`PARTS` is boxed, per
    image, from the first of these the batch offers: the bounding box of its pixels in ``labels``;
    the box around its points in ``landmarks`` (5 points, CelebA order); the same landmark rule on
    :data:`gfc_kit.face_layout.MEAN_LANDMARKS`, i.e. where the part sits on the average aligned face (used when an
    image's labels lack the part and the batch has no landmarks). A batch with neither labels nor
    landmarks is an error for a part, as guessing would silently test the wrong region.
    """

    def __init__(
        self,
        region: Annotated[Region | list[Region], AfterValidator(_check_regions)] = "O1",
        margin: Annotated[float, Field(ge=0, le=0.5)] = 0.03,
    ) -> None:
        """:param region: one name, or a list from which each image draws one uniformly.
        :param margin: how far a part's box is grown on every side, as a fraction of the image
            side (O boxes are used as they are)."""
        self.regions: tuple[str, ...] = (region,) if isinstance(region, str) else tuple(region)
        self.margin = margin

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        n, h, w, device = image_shape(batch)
        labels, landmarks = batch.get("labels"), batch.get("landmarks")
        self._check_sources(labels, landmarks)
        if len(self.regions) > 1:
            picks = torch.randint(len(self.regions), (n,), generator=generator).tolist()
        else:
            picks = [0] * n
        boxes = [
            self._box(
                self.regions[k],
                None if labels is None else labels[i],
                None if landmarks is None else landmarks[i].detach().float().cpu(),
                h,
                w,
            )
            for i, k in enumerate(picks)
        ]
        return box_masks(torch.stack(boxes), h, w, device)

    def _check_sources(self, labels: torch.Tensor | None, landmarks: torch.Tensor | None) -> None:
        """Parts need labels or 5 landmarks; checked for every configured name, not only the drawn
        ones, so that whether a batch is accepted never depends on the seed."""
        parts = [r for r in self.regions if r in PARTS]
        if not parts:
            return
        if labels is None and landmarks is None:
            raise DataError(f"mask region {parts[0]!r} needs 'labels' or 'landmarks' in the batch")
        if landmarks is not None and tuple(landmarks.shape[1:]) != (5, 2):
            shape = tuple(landmarks.shape)
            raise DataError(f"mask region {parts[0]!r} needs 5 landmarks per face (N×5×2), got {shape}")

    def _box(
        self, name: str, labels: torch.Tensor | None, points: torch.Tensor | None, h: int, w: int
    ) -> torch.Tensor:
        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
        if name in O_BOXES:
            return torch.tensor(O_BOXES[name]) * scale
        classes, anchors, growth = PARTS[name]
        box = None if labels is None else _label_box(labels, classes)
        if box is None:
            if points is None:
                points = torch.tensor(MEAN_LANDMARKS) * scale[:2]
            box = _landmark_box(points, anchors, growth)
        grown = box + self.margin * scale * torch.tensor([-1.0, -1.0, 1.0, 1.0])
        return torch.minimum(grown.clamp_min(0), scale)


def _label_box(labels: torch.Tensor, classes: tuple[int, ...]) -> torch.Tensor | None:
    """The pixel bounding box of ``classes`` in an ``H×W`` label map, or None if none is present."""
    ys, xs = torch.isin(labels, torch.tensor(classes, device=labels.device)).nonzero(as_tuple=True)
    if xs.numel() == 0:
        return None
    return torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float().cpu()


def _landmark_box(points: torch.Tensor, anchors: tuple[int, ...], growth: Box) -> torch.Tensor:
    """The box around the ``anchors`` among ``points`` (``5×2`` pixels), grown in eye distances."""
    eye_distance = (points[1] - points[0]).norm().clamp_min(1.0)
    chosen = points[list(anchors)]
    corners = torch.cat([chosen.min(0).values, chosen.max(0).values])
    return corners + torch.tensor(growth) * eye_distance


@hookimpl
def gfc_register(registry):
    registry.add("mask_sampler", "random_square", RandomSquare)
    registry.add("mask_sampler", "random_box", RandomBox)
    registry.add("mask_sampler", "center", Center)
    registry.add("mask_sampler", "regions", Regions)
