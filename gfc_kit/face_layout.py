"""Where a face sits in the paper's images: CelebA aligned faces cropped as DCGAN's crop_celebA.lua.

The datasets crop to this layout, the synthetic faces are drawn in it, and the O1–O6 masks are
placed on it, so the three agree through these constants. A model folder records its layout
(:class:`FaceLayout`), and aligners map photos onto it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gfc_kit.errors import GfcError

ALIGNED_SIZE = (178, 218)
"""CelebA's ``img_align_celeba`` images: width, height."""

CROP_BOX = (30, 40, 168, 178)
"""crop_celebA.lua's box in the aligned image, ``(x0, y0, x1, y1)``: 138×138 around the face."""

MEAN_LANDMARKS = (
    (0.285, 0.516),  # left eye
    (0.563, 0.516),  # right eye
    (0.418, 0.691),  # nose tip
    (0.299, 0.812),  # left mouth corner
    (0.548, 0.813),  # right mouth corner
)
"""CelebA's 5 landmarks averaged over ids 1–330, mapped into the crop, as fractions of
``(width, height)`` ("left" = image-left). The face sits slightly left of the crop's centre."""

POINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""The five face points a layout places and an aligner finds, in this order ("left" = image-left)."""


@dataclass(frozen=True)
class FaceLayout:
    """Where a model expects the five face points in its square input, as fractions of the side.

    A model records the layout it was trained on (``face_layout`` in its ``model.json``), and an
    aligner maps each face's points onto it with a similarity transform, so a photo is warped to
    exactly the kind of face the model saw.
    """

    name: str
    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.points) != len(POINT_NAMES) or any(len(p) != 2 for p in self.points):
            raise GfcError(f"face layout {self.name!r}: needs {len(POINT_NAMES)} (x, y) points "
                           f"({', '.join(POINT_NAMES)})")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "points": [list(p) for p in self.points]}

    @classmethod
    def from_json(cls, data: Any, where: str) -> FaceLayout:
        """A layout as stored in a model folder; problems name ``where`` (the file)."""
        try:
            return cls(str(data["name"]), tuple((float(x), float(y)) for x, y in data["points"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise GfcError(f"{where}: face_layout needs a name and {len(POINT_NAMES)} [x, y] points "
                           f"({type(exc).__name__}: {exc})") from None
        except GfcError as exc:
            raise GfcError(f"{where}: {exc}") from None

    def transform(self, landmarks: np.ndarray) -> np.ndarray:
        """The similarity (rotation, uniform scale, shift) as a 2×3 matrix that takes photo pixels to
        this layout's unit square, fitted by least squares to the face's points (``5×2`` photo
        pixels in :data:`POINT_NAMES` order; a row of NaN is a point the aligner did not find)."""
        return fit_similarity(np.asarray(landmarks, dtype=np.float64), np.asarray(self.points, dtype=np.float64))


CELEBA_CROP = FaceLayout("celeba_crop", MEAN_LANDMARKS)
"""The paper's layout: CelebA's aligned faces cropped as crop_celebA.lua does. Every built-in face
dataset and the shipped models use it; a model folder without ``face_layout`` is taken to."""


def fit_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2×3 similarity that best maps ``source`` points onto ``target`` (least squares; rows with
    NaN are ignored; at least two points are needed). Solves for ``[a, b, tx, ty]`` in
    ``x' = a x - b y + tx``, ``y' = b x + a y + ty``."""
    keep = np.isfinite(source).all(1) & np.isfinite(target).all(1)
    source, target = source[keep], target[keep]
    if len(source) < 2:
        raise GfcError("a face alignment needs at least two landmarks")
    x, y = source[:, 0], source[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    system = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])
    (a, b, tx, ty), *_ = np.linalg.lstsq(system, np.concatenate([target[:, 0], target[:, 1]]), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2×3 affine transform."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]
