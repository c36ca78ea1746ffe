"""The ``dlib`` aligner: dlib's HOG face detector and shape predictor, mapped onto a model's layout.

Why dlib's HOG detector: it ships inside dlib (no download, no GPU) and is quick once the photo is
downscaled to ``detect_size``; the shape predictor then runs on the full-resolution photo, so the
points are as precise as the photo allows. HOG only finds roughly upright faces, so when it finds
none the photo is searched again at each of ``rotations`` and the points are mapped back.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from pydantic import Field

from gfc_kit.errors import GfcError
from gfc_kit.face_layout import FaceLayout
from gfc_kit.interfaces import Face

INSTALL = "pip install dlib-bin face-recognition-models"


def predictor_file(points: int) -> Path:
    """dlib's ``shape_predictor_{points}_face_landmarks.dat`` from the face-recognition-models
    distribution. Found without importing it: its ``__init__`` needs ``pkg_resources``, which
    current setuptools no longer has."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise GfcError(f"the dlib aligner needs dlib's shape predictors: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / f"shape_predictor_{points}_face_landmarks.dat"
    if not path.is_file():
        raise GfcError(f"{path}: dlib's {points}-point shape predictor is missing; reinstall it: {INSTALL}")
    return path


def _dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise GfcError(f"the dlib aligner needs dlib: {INSTALL}") from None
    return dlib


def five_points(parts: np.ndarray) -> np.ndarray:
    """The layout's five points (``POINT_NAMES`` order, image-left first) from dlib's points.

    68 points (iBUG 300-W): eye centres are the means of 36–41 and 42–47, the nose tip is 30, the
    mouth corners 48 and 54. 5 points: 2–3 are the image-left eye's corners, 0–1 the other's, 4 is
    below the nose (no layout point), so nose and mouth are NaN and only the eyes place the face.
    """
    if len(parts) == 68:
        return np.stack([parts[36:42].mean(0), parts[42:48].mean(0), parts[30], parts[48], parts[54]])
    missing = np.full((3, 2), np.nan)
    return np.concatenate([parts[2:4].mean(0)[None], parts[0:2].mean(0)[None], missing])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]


def _invert(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


class DlibAligner:
    """Faces found by dlib's HOG detector, with dlib's shape predictor's points, largest first."""

    def __init__(
        self,
        landmarks: Literal[5, 68] = 68,
        min_face: Annotated[int, Field(ge=1)] = 40,
        upsample: Annotated[int, Field(ge=0, le=3)] = 0,
        detect_size: Annotated[int, Field(ge=80)] = 1280,
        rotations: tuple[Annotated[float, Field(gt=-180, lt=180)], ...] = (15.0, -15.0, 30.0, -30.0),
        threshold: float = 0.0,
    ) -> None:
        """
        :param landmarks: the 68-point predictor (eyes, nose tip and mouth corners place the face)
            or the 5-point one (eyes only; smaller and a little faster).
        :param min_face: detections narrower than this, in photo pixels, are dropped.
        :param upsample: times dlib doubles the detection image: HOG's smallest face is about
            80 px there, so 1 finds faces about half as big, at four times the cost.
        :param detect_size: the photo is downscaled so its longer side is at most this before
            detection (HOG on a 4000×3000 photo is slow); the points are found at full size.
        :param rotations: in-plane angles (degrees, counter-clockwise) to search, in order, when
            no upright face is found; the first angle that finds one ends the search.
        :param threshold: dlib's detection threshold adjustment (lower finds more, and more
            false faces).
        """
        self.landmarks = landmarks
        self.min_face = min_face
        self.upsample = upsample
        self.detect_size = detect_size
        self.rotations = tuple(rotations)
        self.threshold = threshold
        self._dlib = _dlib()
        self._predictor_path = predictor_file(landmarks)  # checked now, loaded on first use
        self._detector: Any = None
        self._predictor: Any = None

    def __call__(self, photo: np.ndarray, layout: FaceLayout) -> list[Face]:
        photo = _rgb(photo)
        if self._detector is None:
            self._detector = self._dlib.get_frontal_face_detector()
            self._predictor = self._dlib.shape_predictor(str(self._predictor_path))
        scale = min(1.0, self.detect_size / max(photo.shape[:2]))
        small = photo
        if scale < 1:
            size = (max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale)))
            small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
        # small pixel -> photo pixel, pixel centres at whole numbers in both
        sx, sy = photo.shape[1] / small.shape[1], photo.shape[0] / small.shape[0]
        small_to_photo = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]])
        for angle in (0.0, *self.rotations):
            faces = self._find(photo, small, small_to_photo, angle, layout)
            if faces:
                return _dedupe(sorted(faces, key=lambda f: -f.side))
        return []

    def _find(self, photo: np.ndarray, small: np.ndarray, small_to_photo: np.ndarray, angle: float,
              layout: FaceLayout) -> list[Face]:
        """The faces HOG finds in ``small`` turned by ``angle``, located in ``photo``."""
        frame, to_frame = (small, np.eye(3)[:2]) if angle == 0 else _rotated(small, angle)
        rects, scores, _ = self._detector.run(frame, self.upsample, self.threshold)
        frame_to_photo = np.vstack([small_to_photo, [0, 0, 1]]) @ np.vstack([_invert(to_frame), [0, 0, 1]])
        faces = []
        for rect, score in zip(rects, scores):
            corners = np.array([[rect.left(), rect.top()], [rect.right(), rect.top()],
                                [rect.right(), rect.bottom()], [rect.left(), rect.bottom()]], dtype=np.float64)
            corners = _apply(frame_to_photo[:2], corners)
            side = float(np.linalg.norm(corners[1] - corners[0]))
            if side < self.min_face:
                continue
            points = five_points(self._upright_points(photo, corners.mean(0), side, angle))
            box = (*corners.min(0), *corners.max(0))
            faces.append(Face.from_landmarks(box, points, layout, float(score)))
        return faces

    def _upright_points(self, photo: np.ndarray, centre: np.ndarray, side: float, angle: float) -> np.ndarray:
        """The predictor's points, predicted again on the face turned level by its own eyes while
        they are 3° or more off. The predictor wants upright faces: on a tilted one (HOG accepts
        tilts up to about 40°) it reads too little tilt (a 45° face as 6°), so each pass levels
        the face further."""
        detected = angle
        parts = self._points(photo, centre, side, angle)
        for _ in range(4):
            eyes = five_points(parts)[:2]
            roll = float(np.degrees(np.arctan2(eyes[1, 1] - eyes[0, 1], eyes[1, 0] - eyes[0, 0])))
            if abs(roll - angle) < 3 or abs(roll - detected) > 45:  # level, or points no face has
                break
            angle = roll
            parts = self._points(photo, centre, side, angle)
        return parts

    def _points(self, photo: np.ndarray, centre: np.ndarray, side: float, angle: float) -> np.ndarray:
        """The shape predictor's points (photo pixels) for the face of ``side`` around ``centre``,
        tilted by ``angle``: predicted on the photo itself when upright, else on a crop of it
        turned upright at full resolution."""
        half = side / 2
        if angle == 0:
            image, to_image = photo, np.eye(3)[:2]
        else:
            reach = int(np.ceil(side))  # the crop spans twice the face, so the predictor sees its surroundings
            to_image = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, 1.0)
            to_image[:, 2] += reach - centre
            image = cv2.warpAffine(photo, to_image, (2 * reach, 2 * reach), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
            centre = np.array([reach, reach], dtype=np.float64)
        rect = self._dlib.rectangle(*(round(v) for v in (centre[0] - half, centre[1] - half,
                                                            centre[0] + half, centre[1] + half)))
        shape = self._predictor(image, rect)
        parts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        return _apply(_invert(to_image), parts)


def _rgb(photo: np.ndarray) -> np.ndarray:
    """``photo`` as the C-contiguous ``H×W×3`` uint8 array dlib reads (gray is repeated)."""
    photo = np.asarray(photo)
    if photo.dtype != np.uint8:
        raise GfcError(f"the dlib aligner needs a uint8 photo, not {photo.dtype}")
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=2)
    if photo.ndim != 3 or photo.shape[2] not in (3, 4):
        raise GfcError(f"the dlib aligner needs an H×W×3 RGB photo, not shape {photo.shape}")
    return np.ascontiguousarray(photo[..., :3])


def _rotated(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned ``angle`` degrees counter-clockwise on a canvas big enough to keep all of
    it, and the 2×3 map from ``image`` pixels to the canvas."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2 - 0.5, height / 2 - 0.5), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(np.ceil(width * cos + height * sin)), int(np.ceil(width * sin + height * cos)))
    matrix[:, 2] += (size[0] - width) / 2, (size[1] - height) / 2
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT), matrix


def _dedupe(faces: list[Face]) -> list[Face]:
    """``faces`` (largest first) without any whose centre lies within half a side of a larger one's."""
    kept: list[Face] = []
    for face in faces:
        centre = face.corners().mean(0)
        if all(np.linalg.norm(centre - k.corners().mean(0)) > k.side / 2 for k in kept):
            kept.append(face)
    return kept
