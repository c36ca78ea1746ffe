"""Warping between a photo and a model's face layout with a 2×3 transform (OpenCV), touching only
the part of the photo that matters, so a 4000×3000 photo costs no more than its face."""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixels, end exclusive."""


def view_matrix(to_layout: np.ndarray, side: int) -> np.ndarray:
    """3×3: photo pixels → pixels of the ``side × side`` view (pixel centres at whole numbers in
    both, as OpenCV and landmark detectors count them)."""
    matrix = np.vstack([np.asarray(to_layout, dtype=np.float64) * side, [0, 0, 1]])
    matrix[:2, 2] -= 0.5
    return matrix


def _shift(x: float, y: float) -> np.ndarray:
    return np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], dtype=np.float64)


def warp_to_layout(photo: np.ndarray, to_layout: np.ndarray, side: int) -> np.ndarray:
    """The ``side × side`` view of ``photo`` through ``to_layout`` (photo pixels → unit square).

    Only the photo's region under the view is read. Where the view shrinks the face, that region is
    first reduced by area averaging (so a large face is not aliased) and then rotated at about its
    own scale; outside the photo the border pixels are repeated."""
    matrix = view_matrix(to_layout, side)
    corners = np.array([[-0.5, -0.5, 1], [side, -0.5, 1], [side, side, 1], [-0.5, side, 1]])
    spots = (corners @ np.linalg.inv(matrix).T)[:, :2]
    height, width = photo.shape[:2]
    x0, y0 = np.maximum(np.floor(spots.min(0)).astype(int) - 3, 0)
    x1, y1 = np.minimum(np.ceil(spots.max(0)).astype(int) + 4, (width, height))
    if x0 >= x1 or y0 >= y1:  # the view lies wholly outside the photo: repeat its nearest border
        x0, y0 = min(x0, width - 1), min(y0, height - 1)
        x1, y1 = x0 + 1, y0 + 1
    region = photo[y0:y1, x0:x1].astype(np.float32)  # only this part of a large photo is converted
    matrix = matrix @ _shift(x0, y0)
    scale = float(np.hypot(*matrix[0, :2]))
    if scale < 1:
        size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
        fx, fy = size[0] / region.shape[1], size[1] / region.shape[0]
        to_small = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]])
        region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        matrix = matrix @ np.linalg.inv(to_small)
    return cv2.warpAffine(region, matrix[:2], (side, side), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def warp_to_photo(view: np.ndarray, to_layout: np.ndarray, box: Box) -> np.ndarray:
    """The part ``box`` of the photo as ``view`` (a ``side × side`` layout view) paints it: the
    inverse of :func:`warp_to_layout`, sampled only inside ``box``."""
    x0, y0, x1, y1 = box
    matrix = view_matrix(to_layout, view.shape[0]) @ _shift(x0, y0)  # box pixel → view pixel
    return cv2.warpAffine(view, matrix[:2], (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
