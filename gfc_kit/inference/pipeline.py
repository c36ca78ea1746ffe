"""Completing a photo of any size as a pipeline of components: find the faces (an aligner, or a
fixed crop) or crop around the holes, complete each at the model's size or the crop's own scale,
warp or enlarge the fill back to the photo, refine it there (the photo's own fine detail brought
into the hole), and blend it into the photo. Only the hole and the blender's band around it
change; every other pixel of the photo, alpha included, is returned byte for byte.

    photos = PhotoCompleter(ModelCompleter.pretrained("gfc_celeba_128"), aligner=create("aligner", "dlib"))
    done = photos(array, hole=mask)            # H×W×C uint8 or uint16 in, the same out
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import torch

from gfc_kit.components.blenders import Poisson, distance_to_hole
from gfc_kit.components.refiners import ResidualRefiner
from gfc_kit.components.masks.boxes import O_BOXES
from gfc_kit.errors import GfcError
from gfc_kit.face_layout import ALIGNED_SIZE, CELEBA_CROP, CROP_BOX
from gfc_kit.imaging import MIN_SIDE
from gfc_kit.inference.completer import Crop
from gfc_kit.inference.warping import Box, warp_to_layout, warp_to_photo
from gfc_kit.interfaces import Aligner, Blender, Completer, Face, Refiner

log = logging.getLogger("gfc_kit.complete")

Faces = Literal["largest", "all"]
NoFace = Literal["error", "plain"]

OVERSAMPLE = 4
"""A face is warped at 4× its size in the photo (at most :data:`MAX_SIDE`), so the warp there and
back changes no pixel by more than about 2/255 (measured on CelebA-HQ faces, rotations to 30°)."""
MAX_SIDE = 2048

CROP_MARGIN = 128
"""``--crop hole``: known pixels kept around each group of holes (IOPaint's default margin)."""
CROP_TRIGGER = 800
"""``--crop hole``: a photo whose longer side is at most this is completed whole (IOPaint's trigger size)."""


@dataclass
class PhotoCompleter:
    """A trained model, an aligner (or a fixed crop when ``aligner`` is None) and a blender, as one
    function from a photo and its hole to the completed photo.

    ``faces`` picks the faces a ``region`` hole (O1–O6, placed on each face) goes on; a drawn hole
    goes on the face whose square it overlaps most. ``no_face="plain"`` completes a photo in which
    the aligner finds no face with the fixed ``crop`` instead, with a warning."""

    model: Completer
    """Fills holes of tensors at any size (a :class:`ModelCompleter`, or e.g. a classical completer);
    its ``layout`` and ``image_size``, when it has them, say how faces are aligned and the
    smallest view worth making."""
    blender: Blender = field(default_factory=Poisson)
    aligner: Aligner | None = None
    crop: Crop = "auto"
    faces: Faces = "largest"
    no_face: NoFace = "error"
    refiner: Refiner = field(default_factory=ResidualRefiner)
    """Brings the photo's detail into the enlarged fill (``residual``, the default: docs/completing.md)."""
    crop_margin: int = CROP_MARGIN
    crop_trigger: int = CROP_TRIGGER

    def __post_init__(self) -> None:
        """A model without a face layout (e.g. a scene model) never sees a face crop: ``auto`` means
        the crop around the holes, and an aligner or a face crop is an error before any photo."""
        if not hasattr(self.model, "layout") or self.model.layout is not None:
            return
        if self.aligner is not None:
            raise GfcError("--align: this model has no face layout (it was not trained on aligned faces); "
                           "leave out --align")
        if self.crop in ("celeba", "center"):
            raise GfcError(f"--crop {self.crop}: this model has no face layout; use --crop auto, hole, original "
                           "or resize")
        if self.crop == "auto":
            self.crop = "hole" if getattr(self.model, "size_multiple", None) else "resize"

    def __call__(self, photo: np.ndarray, hole: np.ndarray | None = None, region: str | None = None,
                 name: str = "photo") -> np.ndarray:
        """``photo``: ``H×W``, ``H×W×3`` or ``H×W×4``, uint8 or uint16; ``hole``: ``H×W`` bool, or
        ``region``: one of O1–O6. ``name`` is used in errors (e.g. the file)."""
        return self.complete(photo, hole, region, name)[0]

    def complete(self, photo: np.ndarray, hole: np.ndarray | None = None, region: str | None = None,
                 name: str = "photo") -> tuple[np.ndarray, np.ndarray]:
        """As calling it, and also the hole that was filled (``H×W`` bool; for a region, where it
        landed on the faces)."""
        if (hole is None) == (region is None):
            raise GfcError(f"{name}: give a hole or a region, not {'both' if hole is not None else 'neither'}")
        if hole is not None and hole.shape != photo.shape[:2]:
            raise GfcError(f"{name}: the hole is {hole.shape[1]}×{hole.shape[0]}, the photo "
                           f"{photo.shape[1]}×{photo.shape[0]}; give a hole of the photo's size")
        if min(photo.shape[:2]) < MIN_SIDE:
            raise GfcError(f"{name}: the photo is {photo.shape[1]}×{photo.shape[0]} px; gfc-kit completes photos of "
                           f"at least {MIN_SIDE}×{MIN_SIDE}")
        if hole is not None and not hole.any():
            raise GfcError(f"{name}: the mask has no hole pixel (white, or 1, marks the hole)")
        if self.aligner is None and self.crop in ("hole", "original"):
            return self._complete_crops(photo, hole, region, name)
        faces = self.find_faces(photo, name)
        jobs = self.assign(faces, photo.shape[:2], hole, region, name)
        result = photo.copy()
        filled = np.zeros(photo.shape[:2], dtype=bool)
        for face, face_hole in jobs:
            filled |= face_hole
        for face, face_hole in jobs:  # each face sees the fills before it, and keeps off the others' holes
            self._complete_face(result, face, face_hole, filled & ~face_hole)
        return result, filled

    def find_faces(self, photo: np.ndarray, name: str = "photo") -> list[Face]:
        """The faces the model will see: the aligner's, largest first, or the fixed crop."""
        height, width = photo.shape[:2]
        if self.aligner is None:
            return [crop_face((width, height), self.crop)]
        faces = self.aligner(as_rgb8(photo), getattr(self.model, "layout", CELEBA_CROP) or CELEBA_CROP)
        if faces:
            return sorted(faces, key=lambda f: -f.side)
        if self.no_face == "plain":
            log.warning("%s: no face found; completing the %s crop without alignment", name, self.crop)
            return [crop_face((width, height), self.crop)]
        raise GfcError(f"{name}: no face found; give another photo, or --no-face plain to complete it without alignment")

    def assign(self, faces: list[Face], shape: tuple[int, int], hole: np.ndarray | None, region: str | None,
               name: str) -> list[tuple[Face, np.ndarray]]:
        """Each face with the holes that are its own: a region on the chosen faces, or each
        connected part of a drawn hole on the face whose square it overlaps most."""
        if region is not None:
            chosen = faces if self.faces == "all" else faces[:1]
            return [(face, region_hole(face, region, shape)) for face in chosen]
        count, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
        holes: dict[int, np.ndarray] = {}
        for part in range(1, count):
            x, y, w, h = stats[part, :4]
            ys, xs = np.nonzero(labels[y:y + h, x:x + w] == part)
            inside = [np.mean(in_square(face, xs + x, ys + y)) for face in faces]
            best = int(np.argmax(inside))
            where = f"{name}: the hole at x={x}, y={y} ({w}×{h} px)"
            if self.aligner is None and inside[best] < 1:
                x0, y0, x1, y1 = (round(v) for v in faces[0].box)
                raise GfcError(f"{where} reaches outside the {x1 - x0}×{y1 - y0} region at ({x0}, {y0}) that the "
                               f"model sees (--crop {self.crop}); use a smaller hole, another --crop (e.g. resize), "
                               "or --align")
            if inside[best] == 0:
                raise GfcError(f"{where} lies on no face that was found")
            if inside[best] < 1:
                raise GfcError(f"{where} reaches outside the face's square that the model sees; use a smaller hole")
            holes.setdefault(best, np.zeros(shape, dtype=bool))[y:y + h, x:x + w][labels[y:y + h, x:x + w] == part] = True
        return [(faces[i], face_hole) for i, face_hole in sorted(holes.items())]

    def _complete_crops(self, photo: np.ndarray, hole: np.ndarray | None, region: str | None,
                        name: str) -> tuple[np.ndarray, np.ndarray]:
        """``--crop hole`` / ``original``: each group of holes completed in a crop at the photo's own scale."""
        if region is not None:
            raise GfcError(f"--region {region}: places a hole on a face; --crop {self.crop} finds none "
                           "(draw the hole with --mask or --box, or use --align or --crop celeba/center)")
        if getattr(self.model, "size_multiple", None) is None:
            raise GfcError(f"--crop {self.crop}: this model takes only {getattr(self.model, 'image_size', '?')}-px "
                           "squares (not fully convolutional); use --crop resize, center or celeba")
        height, width = photo.shape[:2]
        whole = self.crop == "original" or max(height, width) <= self.crop_trigger
        boxes = [((0, 0, width, height), hole)] if whole else hole_groups(hole, self.crop_margin)
        result = photo.copy()
        for box, group in boxes:
            self._complete_crop(result, box, group, hole & ~group)
        return result, hole

    def _complete_crop(self, result: np.ndarray, box: Box, hole: np.ndarray, others: np.ndarray) -> None:
        """Complete the holes in ``box`` at the photo's scale (shrunk to the model's ``max_side``
        when larger), enlarge the fill back, refine and blend it into ``result``."""
        x0, y0, x1, y1 = box
        width, height = x1 - x0, y1 - y0
        part = hole[y0:y1, x0:x1]
        margin = int(self.blender.margin(part))
        changed = (part if margin == 0 else distance_within(part, margin)) & ~others[y0:y1, x0:x1]
        photo_part, photo_rgb = photo_region(result, box)
        shrink = min(1.0, getattr(self.model, "max_side", max(width, height)) / max(width, height))
        size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        view = cv2.resize(photo_rgb, size, interpolation=cv2.INTER_AREA) if shrink < 1 else photo_rgb
        view_hole = cv2.resize(changed.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0 if shrink < 1 else changed
        tensor = torch.from_numpy(np.ascontiguousarray(view.transpose(2, 0, 1)))[None] * 2 - 1
        with torch.inference_mode():
            done = self.model.complete_tensor(tensor, torch.from_numpy(view_hole)[None, None].float(), own_size=True)
        fill = ((done[0].permute(1, 2, 0).cpu().numpy() + 1) / 2).astype(np.float32)
        if shrink < 1:
            fill = np.clip(cv2.resize(fill, (width, height), interpolation=cv2.INTER_CUBIC), 0, 1)
        fill = self.refiner(photo_rgb, fill, changed, 1 / shrink)
        self._write(result, (x0, y0, x1, y1), photo_part, photo_rgb, fill, part, changed)

    def _write(self, result: np.ndarray, box: Box, photo_part: np.ndarray, photo_rgb: np.ndarray,
               fill: np.ndarray, part: np.ndarray, changed: np.ndarray) -> None:
        """Blend ``fill`` into the ``box`` of ``result`` and write the pixels that may change."""
        x0, y0, x1, y1 = box
        scale = colour_scale(result)
        blended = self.blender(photo_rgb, fill, part)
        if photo_part.ndim == 2 or photo_part.shape[2] == 1:
            blended = cv2.cvtColor(blended.astype(np.float32), cv2.COLOR_RGB2GRAY).reshape(photo_part.shape)
        values = np.clip(blended * scale + 0.5, 0, scale).astype(result.dtype)
        target = result[y0:y1, x0:x1] if result.ndim == 2 else result[y0:y1, x0:x1, :values.shape[-1]]
        target[changed] = values[changed]

    def _complete_face(self, result: np.ndarray, face: Face, hole: np.ndarray, others: np.ndarray) -> None:
        """Complete one face's holes in its layout view and blend the fill into ``result``. The
        model fills the hole grown by the blender's band, so a feathered or Poisson edge blends
        generated pixels into the photo, never the photo's own pixels under the hole."""
        margin = int(self.blender.margin(hole))
        enlarged = face.side / getattr(self.model, "image_size", face.side)  # photo pixels per model pixel
        x0, y0, x1, y1 = hole_box(hole, margin + 2)
        part = hole[y0:y1, x0:x1]
        changed = (part if margin == 0 else distance_within(part, margin)) & ~others[y0:y1, x0:x1]
        grown = hole.copy()
        grown[y0:y1, x0:x1] |= changed

        side = int(np.clip(round(face.side * OVERSAMPLE), getattr(self.model, "image_size", 64), MAX_SIDE))
        scale = colour_scale(result)
        colour = result if result.ndim == 2 else result[..., :3]  # earlier faces already filled
        view = warp_to_layout(colour, face.to_layout, side) / scale
        view = np.repeat(view[..., None], 3, 2) if view.ndim == 2 else view
        view_hole = warp_to_layout(grown.view(np.uint8), face.to_layout, side)  # only the face's part is made float
        view_hole = view_hole > (0.5 if (view_hole > 0.5).any() else 0)  # a hole thinner than a view pixel stays
        tensor = torch.from_numpy(np.ascontiguousarray(view.transpose(2, 0, 1)))[None] * 2 - 1
        with torch.inference_mode():
            done = self.model(tensor, torch.from_numpy(view_hole)[None, None].float())
        filled_view = ((done[0].permute(1, 2, 0).cpu().numpy() + 1) / 2).astype(np.float32)

        photo_part, photo_rgb = photo_region(result, (x0, y0, x1, y1))
        fill = np.clip(warp_to_photo(filled_view, face.to_layout, (x0, y0, x1, y1)), 0, 1)
        fill = self._refine(result, hole, (x0, y0, x1, y1), fill, changed, enlarged)
        self._write(result, (x0, y0, x1, y1), photo_part, photo_rgb, fill, part, changed)

    def _refine(self, result: np.ndarray, hole: np.ndarray, box: Box, fill: np.ndarray, changed: np.ndarray,
                enlarged: float) -> np.ndarray:
        """The refiner on the fill of ``box``, reading the known photo around it as far as the
        refiner asks (its ``context``); only the blend box's fill comes back, so the blender still
        works on the hole's box alone."""
        x0, y0, x1, y1 = box
        X0, Y0, X1, Y1 = hole_box(hole, max(0, self.refiner.context(hole, enlarged)))
        X0, Y0, X1, Y1 = min(X0, x0), min(Y0, y0), max(X1, x1), max(Y1, y1)
        around = photo_region(result, (X0, Y0, X1, Y1))[1]
        inner = (slice(y0 - Y0, y1 - Y0), slice(x0 - X0, x1 - X0))
        wide_hole = np.zeros(around.shape[:2], dtype=bool)
        wide_hole[inner] = changed
        wide_fill = around.copy()
        wide_fill[inner] = fill
        return self.refiner(around, wide_fill, wide_hole, enlarged)[inner]


def photo_region(photo: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """The ``box`` of a photo as float32 in [0, 1]: as stored (gray stays 2-D; alpha left out),
    and as ``H×W×3`` RGB, what the refiner and blender take."""
    x0, y0, x1, y1 = box
    colour = photo if photo.ndim == 2 else photo[..., :3]
    part = colour[y0:y1, x0:x1].astype(np.float32) / colour_scale(photo)
    return part, (np.repeat(part[..., None], 3, 2) if part.ndim == 2 else part)


def crop_face(size: tuple[int, int], crop: Crop) -> Face:
    """The fixed crop of a ``width × height`` photo as a face (no landmarks): its box is the square."""
    x0, y0, x1, y1 = photo_box(size, crop)
    # pixel centres count from 0, so the square's left edge, x0 - 0.5, goes to 0
    to_layout = np.array([[1 / (x1 - x0), 0, (0.5 - x0) / (x1 - x0)], [0, 1 / (y1 - y0), (0.5 - y0) / (y1 - y0)]])
    return Face((x0, y0, x1, y1), np.full((5, 2), np.nan), to_layout)


def photo_box(size: tuple[int, int], crop: Crop = "auto") -> Box:
    """The square (or, for ``resize``, whole) region of a ``width × height`` photo the model sees."""
    width, height = size
    if crop == "auto":
        crop = "celeba" if abs(width / height - ALIGNED_SIZE[0] / ALIGNED_SIZE[1]) < 0.02 else "center"
    if crop == "celeba":
        sx, sy = width / ALIGNED_SIZE[0], height / ALIGNED_SIZE[1]
        x0, y0, x1, y1 = CROP_BOX
        return round(x0 * sx), round(y0 * sy), round(x1 * sx), round(y1 * sy)
    if crop == "resize":
        return 0, 0, width, height
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def in_square(face: Face, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Whether photo pixels ``(xs, ys)`` fall inside the face's square (the model's view)."""
    u = face.to_layout @ np.stack([xs, ys, np.ones(len(xs))]).astype(np.float64)
    return ((u >= 0) & (u <= 1)).all(0)


def region_hole(face: Face, region: str, shape: tuple[int, int]) -> np.ndarray:
    """The paper's ``region`` box (O1–O6) on ``face``, as a photo-sized hole."""
    x0, y0, x1, y1 = O_BOXES[region]
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]]) @ face.from_layout.T
    hole = np.zeros(shape, dtype=np.uint8)
    cv2.fillPoly(hole, [np.round(corners * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    if not hole.any():
        raise GfcError(f"--region {region}: lies outside the photo on this face")
    return hole.astype(bool)


def hole_box(hole: np.ndarray, margin: int) -> Box:
    """The hole's bounding box grown by ``margin`` pixels, inside the photo."""
    x, y, w, h = cv2.boundingRect(hole.astype(np.uint8))
    height, width = hole.shape
    return max(x - margin, 0), max(y - margin, 0), min(x + w + margin, width), min(y + h + margin, height)


def hole_groups(hole: np.ndarray, margin: int) -> list[tuple[Box, np.ndarray]]:
    """The crops of ``--crop hole``: each connected part of the hole's box grown by ``margin``
    (inside the photo), parts whose crops overlap merged into one, with the holes each holds."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    height, width = hole.shape
    groups: list[tuple[list[int], list[int]]] = []  # (box, parts)
    for part in range(1, count):
        x, y, w, h = stats[part, :4]
        box, parts = [max(x - margin, 0), max(y - margin, 0), min(x + w + margin, width), min(y + h + margin, height)], [part]
        merged = True
        while merged:  # fold in every crop this one now overlaps
            merged = False
            for other in list(groups):
                ob = other[0]
                if ob[0] < box[2] and box[0] < ob[2] and ob[1] < box[3] and box[1] < ob[3]:
                    box = [min(box[0], ob[0]), min(box[1], ob[1]), max(box[2], ob[2]), max(box[3], ob[3])]
                    parts += other[1]
                    groups.remove(other)
                    merged = True
        groups.append((box, parts))
    return [(tuple(box), np.isin(labels, parts)) for box, parts in groups]


def distance_within(hole: np.ndarray, margin: int) -> np.ndarray:
    """Pixels at most ``margin`` pixels from the hole (the band a blender may change)."""
    return distance_to_hole(hole) <= margin


def colour_scale(photo: np.ndarray) -> float:
    """The white level of a photo's pixel type: 255 for uint8, 65535 for uint16."""
    if photo.dtype == np.uint8:
        return 255.0
    if photo.dtype == np.uint16:
        return 65535.0
    raise GfcError(f"photos must be 8- or 16-bit, not {photo.dtype}")


def as_rgb8(photo: np.ndarray) -> np.ndarray:
    """``H×W×3`` uint8 RGB of any photo array (what aligners take)."""
    colour = photo if photo.ndim == 2 else photo[..., :3]
    if colour.dtype == np.uint16:
        colour = (colour >> 8).astype(np.uint8)
    if colour.ndim == 2 or colour.shape[2] == 1:
        colour = np.repeat(colour.reshape(*colour.shape[:2], 1), 3, 2)
    return np.ascontiguousarray(colour)
