"""Procedurally drawn faces with exact parsing labels: the dataset every recipe can run offline.

Why it exists: gfc-kit must train, evaluate and demo with nothing downloaded (DESIGN.md section 8),
and the paper's parsing loss needs labelled faces (section 7). Each face is built from geometric
shapes in a face frame. Layers are painted in a fixed occlusion order (background and clothes,
hair behind the head, neck, ears, skin, hair in front, then brows, eyes, nose and lips, which only
land on skin); each layer labels the pixels whose centre it covers and blends its colour in by
coverage, so the label map and the pixels agree by construction. Shading, shadows and eye or
mouth details only recolour pixels inside their own layer. Edges are anti-aliased analytically
(each layer is an implicit function and its coverage of a pixel comes from the function's value
and slope there) rather than by supersampling, which would cost four times the pixels: an item
takes a few milliseconds, so a data loader keeps up with a CPU training step.

The layout follows the paper's data, CelebA aligned faces cropped as DCGAN's crop_celebA.lua does
(box x 30..168, y 40..178 of the 178×218 image): the mean landmarks are :data:`gfc_kit.face_layout.MEAN_LANDMARKS`,
so the face sits slightly left of centre, as in that crop. Every face is a random draw from
``numpy.random.default_rng((seed, index))`` made before any pixel exists, so an item depends only on
``(seed, index)``, and the same face is drawn at any resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import Field
from torch.utils.data import Dataset

from gfc_kit.face_layout import CELEBA_CROP, MEAN_LANDMARKS
from gfc_kit.hookspecs import hookimpl

(BACKGROUND, SKIN, LEFT_BROW, RIGHT_BROW, LEFT_EYE, RIGHT_EYE, NOSE,
 UPPER_LIP, INNER_MOUTH, LOWER_LIP, HAIR) = range(11)
"""The parsing classes, in :data:`gfc_kit.interfaces.PARSING_CLASSES` order."""

_ORIGIN = np.array([0.423, 0.600])
"""The face frame's origin in the crop (fractions): on the midline between the eyes, at cheek level.
Rotation and scale jitter pivot here."""

_SKIN_RAMP = np.array([[0.98, 0.83, 0.74], [0.90, 0.68, 0.54], [0.72, 0.48, 0.33], [0.42, 0.26, 0.17],
                       [0.26, 0.16, 0.11]])
"""Skin tones from light to dark; a face's tone is a random point on this polyline."""

_HAIR_RGB = np.array([[0.06, 0.05, 0.05], [0.22, 0.13, 0.08], [0.42, 0.27, 0.15], [0.85, 0.70, 0.45],
                      [0.62, 0.25, 0.10], [0.66, 0.65, 0.64]])
_HAIR_P = np.array([0.30, 0.25, 0.17, 0.13, 0.07, 0.08])
"""Black, dark brown, brown, blond, red, grey, and how often each is drawn."""

_IRIS_RGB = np.array([[0.30, 0.17, 0.08], [0.14, 0.08, 0.05], [0.28, 0.42, 0.62], [0.30, 0.42, 0.28],
                      [0.45, 0.35, 0.18], [0.45, 0.50, 0.55]])
"""Brown, dark brown, blue, green, hazel, grey."""

_Window = tuple[slice, slice]


def _f32(values: Any) -> np.ndarray:
    """float32, so that arithmetic with the float32 sample grids stays float32 (NEP 50)."""
    return np.asarray(values, dtype=np.float32)


def _rgb(values: Any) -> np.ndarray:
    """A colour as a float32 ``3×1×1`` column, ready to multiply ``h×w`` shading fields."""
    return np.clip(_f32(values), 0, 1).reshape(3, 1, 1)


@dataclass
class _Face:
    """One face's random parameters. Lengths are in the face frame: units of the crop side, origin
    :data:`_ORIGIN`, y down, before the pose (rotation, scale, shift) places the face in the crop.
    Colours are ``3×1×1`` in [0, 1]."""

    angle: float
    scale: float
    shift: tuple[float, float]
    eyes: np.ndarray  # 2×2 centres, left then right
    nose: np.ndarray  # tip
    mouth: np.ndarray  # 2×2 corners, left then right
    head_x: float  # midline of the outline (features may sit a little off it: a hint of yaw)
    head_cy: float  # widest row of the outline
    head_a: float  # half width
    head_top: float  # from cy up to the top of the skull
    head_bottom: float  # from cy down to the chin
    jaw: float  # > 0 square jaw, < 0 pointed chin
    light: tuple[float, float, float]  # unit vector towards the light (x right, y down, z to the viewer)
    ambient: float
    skin: np.ndarray
    hair: np.ndarray
    hair_style: dict[str, float | bool]
    eye_size: tuple[float, float]  # half width, half height of the opening
    eye_tilt: float
    iris: np.ndarray
    gaze: tuple[float, float]
    brow: dict[str, float]
    brow_rgb: np.ndarray
    nose_shape: tuple[float, float, float]  # bridge half width, wing half width, bottom below the tip
    lips: np.ndarray
    lip_size: tuple[float, float, float, float]  # upper, lower thickness, opening, smile


def _sample_face(rng: np.random.Generator) -> _Face:
    """Draw every parameter of one face (geometry first, then looks) from one batch of uniforms."""
    stream = iter(rng.random(128).tolist())

    def u(lo: float = 0.0, hi: float = 1.0) -> float:
        return lo + (hi - lo) * next(stream)

    def jitter(colour: np.ndarray, amount: float) -> np.ndarray:
        return np.clip(colour * (1 + np.array([u(-amount, amount) for _ in range(3)])), 0, 1)

    canon = np.array(MEAN_LANDMARKS, dtype=np.float32) - _ORIGIN
    spread, eye_dy = u(-0.012, 0.012), u(-0.02, 0.02)
    eyes = canon[:2] + np.array([[-spread, eye_dy], [spread, eye_dy]])
    nose = canon[2] + np.array([u(-0.01, 0.01), u(-0.02, 0.02)])
    widen, mouth_dy = u(-0.018, 0.018), u(-0.02, 0.02)
    mouth = canon[3:] + np.array([[-widen, mouth_dy], [widen, mouth_dy]])
    tone = u() ** 1.7 * (len(_SKIN_RAMP) - 1)
    step = min(int(tone), len(_SKIN_RAMP) - 2)
    skin = jitter(_SKIN_RAMP[step] + (tone - step) * (_SKIN_RAMP[step + 1] - _SKIN_RAMP[step]), 0.05)
    hair_kind = int(np.searchsorted(np.cumsum(_HAIR_P), u() * _HAIR_P.sum()))
    hair = jitter(_HAIR_RGB[hair_kind] * u(0.8, 1.2), 0.08)
    brow_rgb = np.minimum(hair * u(0.4, 0.8), skin * 0.4) if hair_kind != 5 else hair * 0.6
    light = np.array([u(-0.7, 0.7), u(-0.6, 0.1), 1.0])
    light /= math.sqrt(light @ light)
    lipstick = u() < 0.2
    lips = (np.array([u(0.55, 0.85), u(0.05, 0.2), u(0.15, 0.35)]) if lipstick
            else skin * np.array([0.85, 0.58, 0.58]) + np.array([0.06, 0.0, 0.02]) * u(0.5, 1.5))
    opening = u(0.006, 0.03) if u() < 0.3 else 0.0
    return _Face(
        angle=math.radians(u(-8, 8)), scale=u(0.92, 1.08), shift=(u(-0.03, 0.03), u(-0.03, 0.03)),
        eyes=_f32(eyes), nose=_f32(nose), mouth=_f32(mouth),
        head_x=u(-0.035, 0.035), head_cy=u(-0.09, -0.05), head_a=u(0.29, 0.35), head_top=u(0.48, 0.54),
        head_bottom=u(0.40, 0.48), jaw=u(-0.35, 0.9),
        light=tuple(light.tolist()), ambient=u(0.45, 0.7), skin=_rgb(skin), hair=_rgb(hair),
        hair_style={
            "thickness": u(0.02, 0.08), "long": u() < 0.45, "drop": u(-0.05, 0.08),
            "end": u(0.22, 0.6), "flare": u(0.0, 0.8), "hairline": u(-0.52, -0.36),
            "curve": u(0.5, 2.5), "part": u(-0.25, 0.25), "bangs": u() < 0.3,
            "bangs_level": u(-0.27, -0.19), "cover": u(0.0, 0.13), "cover_end": u(-0.05, 0.3),
            "strands": u(25, 60), "phase": u(0, 2 * math.pi), "sheen": u(0.0, 0.25),
        },
        eye_size=(u(0.048, 0.064), u(0.022, 0.034)), eye_tilt=u(-0.1, 0.25),
        iris=_rgb(_IRIS_RGB[int(u() * len(_IRIS_RGB))] * u(0.8, 1.2)),
        gaze=(u(-0.3, 0.3), u(-0.15, 0.15)),
        brow={"height": u(0.055, 0.085), "thickness": u(0.014, 0.03), "arch": u(0.005, 0.025),
              "length": u(0.9, 1.25)},
        brow_rgb=_rgb(brow_rgb),
        nose_shape=(u(0.016, 0.026), u(0.045, 0.065), u(0.022, 0.032)),
        lips=_rgb(lips),
        lip_size=(u(0.014, 0.028), u(0.02, 0.038), opening, u(-0.004, 0.016)),
    )


def _slope(field: np.ndarray) -> np.ndarray:
    """``|∇field|`` per pixel step by central differences (border rows and columns repeat their
    neighbours), floored above zero; ``field`` is at least 3×3 (see ``_Canvas.window``)."""
    dy, dx = np.empty_like(field), np.empty_like(field)
    np.subtract(field[2:], field[:-2], out=dy[1:-1])
    np.subtract(field[:, 2:], field[:, :-2], out=dx[:, 1:-1])
    dy[0], dy[-1], dx[:, 0], dx[:, -1] = dy[1], dy[-2], dx[:, 1], dx[:, -2]
    slope = np.hypot(dx, dy, out=dx)
    slope *= 0.5
    return np.maximum(slope, np.float32(1e-12), out=slope)


class _Canvas:
    """Label and colour buffers (colour as three planes, ``3×n×n``), every pixel centre's position
    ``(u, v)`` in the face frame, and the painting rules that keep labels and colours in step."""

    def __init__(self, side: int, face: _Face) -> None:
        self.side = side
        self.pixel = 1 / (side * face.scale)  # one pixel in face-frame units
        centres = (np.arange(side, dtype=np.float32) + 0.5) / side
        dx = centres - np.float32(_ORIGIN[0] + face.shift[0])
        dy = centres - np.float32(_ORIGIN[1] + face.shift[1])
        cos, sin = (np.float32(math.cos(face.angle) / face.scale),
                    np.float32(math.sin(face.angle) / face.scale))
        self.u = cos * dx[None, :] + sin * dy[:, None]
        self.v = cos * dy[:, None] - sin * dx[None, :]
        self.pose = (math.cos(face.angle) * face.scale, math.sin(face.angle) * face.scale,
                     _ORIGIN[0] + face.shift[0], _ORIGIN[1] + face.shift[1])
        self.labels = np.zeros((side, side), np.uint8)
        self.rgb = np.zeros((3, side, side), np.float32)

    def window(self, u0: float, v0: float, u1: float, v1: float) -> _Window:
        """The rows and columns of pixels that a face-frame box can touch (a one-pixel margin
        included); empty when fewer than three rows or columns are on the canvas (a box that
        reaches at most one row into it)."""
        cos, sin, ox, oy = self.pose
        corners = [(u, v) for u in (u0, u1) for v in (v0, v1)]
        xs = [(ox + cos * u - sin * v) * self.side for u, v in corners]
        ys = [(oy + sin * u + cos * v) * self.side for u, v in corners]
        rows = (max(math.floor(min(ys)) - 1, 0), min(math.ceil(max(ys)) + 1, self.side))
        cols = (max(math.floor(min(xs)) - 1, 0), min(math.ceil(max(xs)) + 1, self.side))
        if rows[1] - rows[0] < 3 or cols[1] - cols[0] < 3:
            return slice(0, 0), slice(0, 0)
        return slice(*rows), slice(*cols)

    def uv(self, win: _Window) -> tuple[np.ndarray, np.ndarray]:
        """The face-frame coordinates of the pixel centres in ``win``."""
        return self.u[win], self.v[win]

    def edge(self, distance: np.ndarray) -> np.ndarray:
        """Coverage in [0, 1] from a signed distance in face-frame units (< 0 inside): for colour
        details inside a layer (iris, pupil, nostrils), anti-aliased over one pixel."""
        return np.clip(0.5 - distance / np.float32(self.pixel), 0, 1)

    def paint(self, win: _Window, field: np.ndarray, label: int | np.ndarray, colour: np.ndarray,
              where: np.ndarray | None = None) -> None:
        """Paint a layer: the pixels whose centre has ``field < 0`` (and ``where``, when given) get
        ``label`` (one, or one per pixel); ``colour`` (``3×1×1`` or ``3×h×w``) is blended in by
        each pixel's coverage.

        Coverage is the analytic anti-aliasing of the layer's edge: ``0.5 - field / |∇field|``
        (the signed distance in pixels, to first order), clipped to [0, 1]. It exceeds 0.5 exactly
        where the centre is inside: a layer labels a pixel exactly when it covers most of it.
        """
        if field.size == 0:
            return
        coverage = np.clip(0.5 - field / _slope(field), 0, 1)
        inside = field < 0
        if where is not None:
            coverage *= where
            inside &= where
        np.copyto(self.labels[win], label, where=inside)
        rgb = self.rgb[:, win[0], win[1]]
        rgb += coverage * (colour - rgb)

    def tint(self, win: _Window, where: np.ndarray, factor: np.ndarray | float) -> None:
        """Multiply the colour of the ``where`` pixels by ``factor`` (``h×w`` or one); labels stay."""
        rgb = self.rgb[:, win[0], win[1]]
        np.multiply(rgb, factor, out=rgb, where=where)


def _smooth_field(side: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """A ``3×side×side`` colour field bilinearly interpolated from a random ``cells×cells`` grid."""
    pos = (np.arange(side, dtype=np.float32) + 0.5) / side * (cells - 1)
    weights = np.clip(1 - np.abs(pos[:, None] - np.arange(cells, dtype=np.float32)[None, :]), 0, 1)
    grid = _f32(rng.uniform(0, 1, (3, cells, cells)))
    return weights @ grid @ weights.T


def _paint_background(cv: _Canvas, rng: np.random.Generator) -> None:
    """Flat colour, a linear gradient, or soft colour blobs; always label 0."""
    grey = rng.uniform(0.1, 0.95)
    base = _rgb(grey + rng.uniform(-0.3, 0.3, 3) * rng.uniform(0, 1))
    style = rng.integers(3)
    if style == 0:
        cv.rgb[:] = base
    elif style == 1:
        other = _rgb(base.ravel() + rng.uniform(-0.5, 0.5, 3))
        angle = rng.uniform(0, 2 * math.pi)
        ramp = np.clip(0.5 + (cv.u * math.cos(angle) + cv.v * math.sin(angle)) * 0.9, 0, 1)
        cv.rgb[:] = base + ramp * (other - base)
    else:
        cv.rgb[:] = base * 0.5 + _smooth_field(cv.side, rng, int(rng.integers(3, 7))) * 0.5


def _paint_clothes(cv: _Canvas, f: _Face, rng: np.random.Generator) -> None:
    """Shoulders in the bottom corners (background label, as in Helen)."""
    win = cv.window(-0.8, 0.2, 0.8, 0.7)
    u, v = cv.uv(win)
    shoulder = 0.28 + 0.35 * np.maximum(np.abs(u - f.head_x) - 0.16, 0)
    shade = 0.75 + 0.25 * np.clip((v - shoulder) * 8, 0, 1)
    cv.paint(win, shoulder - v, BACKGROUND, _rgb(rng.uniform(0.05, 0.9, 3)) * shade)


def _hair_colour(u: np.ndarray, v: np.ndarray, f: _Face, depth: float) -> np.ndarray:
    """Hair: strands fanning out from above the crown and a sheen band; ``depth`` darkens it."""
    s = f.hair_style
    fan = (u - f.head_x) / (v - (f.head_cy - f.head_top - 0.25))
    strands = np.sin(fan * s["strands"] + s["phase"])
    ring = (v - (f.head_cy - f.head_top * 0.6)) * 10
    sheen = s["sheen"] * np.maximum(1 - ring * ring, 0)
    return f.hair * ((1 - depth) * (0.88 + 0.12 * strands) + sheen) + sheen * 0.4


def _paint_hair_back(cv: _Canvas, f: _Face) -> None:
    """Hair behind the head: a cap around the skull, and long hair falling to the shoulders."""
    s = f.hair_style
    a, b = f.head_a + s["thickness"] + 0.015, f.head_top + s["thickness"]
    end = s["end"] if s["long"] else f.head_cy + s["drop"]
    win = cv.window(f.head_x - a * 1.6, f.head_cy - b, f.head_x + a * 1.6, max(end, f.head_cy) + 0.05)
    u, v = cv.uv(win)
    x, y = (u - f.head_x) / a, (v - f.head_cy) / b
    field = np.maximum(x * x + y * y - 1, v - end)
    if s["long"]:
        width = 1 + s["flare"] * np.maximum(v - f.head_cy, 0)
        tips = end + 0.02 * np.sin(x * 9 + s["phase"])
        falling = np.maximum(np.maximum(np.abs(x) - width, f.head_cy - v), v - tips)
        field = np.minimum(field, falling)
    cv.paint(win, field, HAIR, _hair_colour(u, v, f, 0.2))


def _paint_neck(cv: _Canvas, f: _Face) -> None:
    """The neck, skin-coloured but labelled background (Helen's faces stop at the jaw), in the
    chin's shadow."""
    chin = f.head_cy + f.head_bottom
    half = f.head_a * 0.58
    win = cv.window(f.head_x - half * 1.5, f.head_cy, f.head_x + half * 1.5, 0.8)
    u, v = cv.uv(win)
    side = np.abs(u - f.head_x) / half
    field = np.maximum(side - 1 - np.maximum(v - chin, 0) * 0.8, f.head_cy - v)
    shade = (0.5 + 0.3 * np.clip((v - chin) * 10, 0, 1)) * (1 - 0.25 * side * side)
    cv.paint(win, field, BACKGROUND, f.skin * shade)


def _paint_ears(cv: _Canvas, f: _Face) -> None:
    """Ears (skin) level with the eyes and nose, when short hair leaves them visible."""
    if f.hair_style["long"]:
        return
    for side in (-1, 1):
        cx, cy = f.head_x + side * (f.head_a - 0.005), float(f.eyes[0, 1]) + 0.06
        win = cv.window(cx - 0.05, cy - 0.09, cx + 0.05, cy + 0.09)
        u, v = cv.uv(win)
        x, y = (u - cx) / 0.042, (v - cy) / 0.08
        r = x * x + y * y
        cv.paint(win, r - 1, SKIN, f.skin * (0.7 + 0.15 * r))


def _hairline(u: np.ndarray, f: _Face) -> np.ndarray:
    """The row above which hair covers the face: a curved, maybe parted hairline, or a fringe."""
    s = f.hair_style
    x = u - f.head_x
    if s["bangs"]:
        line = s["bangs_level"] + 0.008 * np.sin(x * 70 + s["phase"]) + 0.6 * x * x
    else:
        line = s["hairline"] + s["curve"] * x * x + s["part"] * x
    return np.minimum(line, -0.15)  # never down to the eyes


def _head(u: np.ndarray, v: np.ndarray, f: _Face) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face outline's normalised coordinates ``x, y`` and radius ``r`` (< 1 inside): an egg,
    rounder above the widest row, with a square or pointed jaw below it."""
    x = (u - f.head_x) / f.head_a
    y = (v - f.head_cy) / np.where(v < f.head_cy, np.float32(f.head_top), np.float32(f.head_bottom))
    yy = y * y
    return x, y, x * x / np.where(y > 0, 1 + f.jaw * yy, np.float32(1)) + yy


def _paint_face(cv: _Canvas, f: _Face) -> None:
    """The face (skin), lit as an ellipsoid."""
    a, top, bottom = f.head_a, f.head_top, f.head_bottom
    win = cv.window(f.head_x - a, f.head_cy - top, f.head_x + a, f.head_cy + bottom)
    x, y, r = _head(*cv.uv(win), f)
    lx, ly, lz = f.light
    lambert = np.clip(x * lx + y * ly + np.sqrt(np.maximum(1 - r, 0)) * lz, 0, 1)
    cv.paint(win, r - 1, SKIN, f.skin * ((f.ambient + (1 - f.ambient) * lambert) * 1.08))


def _paint_hair_front(cv: _Canvas, f: _Face) -> None:
    """Hair over the face above the hairline (or a fringe), long hair over its sides, and the
    shadow the hair casts on the forehead."""
    s = f.hair_style
    lowest = max(-0.12, s["cover_end"]) if s["long"] else -0.12
    win = cv.window(f.head_x - f.head_a, f.head_cy - f.head_top, f.head_x + f.head_a, lowest)
    u, v = cv.uv(win)
    x, _, r = _head(u, v, f)
    below = v - _hairline(u, f)
    front = below
    if s["long"]:
        front = np.minimum(front, np.maximum(1 - s["cover"] - np.abs(x), v - s["cover_end"]))
    # Reach ~1.5 px past the outline, onto the hair behind (never onto the background), so no
    # sliver of the face's anti-aliased edge shows through.
    outline = r - (1 + 3 * cv.pixel / f.head_a)
    head = cv.labels[win] != BACKGROUND
    cv.paint(win, np.maximum(outline, front), HAIR, _hair_colour(u, v, f, 0.0), head)
    cv.tint(win, cv.labels[win] == SKIN, 0.75 + 0.25 * np.clip(below * 40, 0, 1))


def _eye_axis(f: _Face) -> tuple[float, float]:
    """The mirror line between the eyes (its ``u``) and each eye's distance from it: both eyes,
    and both brows, are drawn as one shape mirrored about this line."""
    return float(f.eyes[:, 0].mean()), float(f.eyes[1, 0] - f.eyes[0, 0]) / 2


def _sides(side: np.ndarray, left: int, right: int) -> np.ndarray:
    """Per-pixel label: ``left`` on the image-left half, ``right`` on the other."""
    return np.where(side < 0, np.uint8(left), np.uint8(right))


def _paint_brows(cv: _Canvas, f: _Face) -> None:
    """Two arched brows, thinning and fading outwards."""
    b, half_w = f.brow, f.eye_size[0]
    cx, dx = _eye_axis(f)
    offset, half = dx + half_w * (b["length"] - 0.95) / 2, half_w * (b["length"] + 0.95) / 2
    by = float(f.eyes[0, 1]) - b["height"]
    win = cv.window(cx - offset - half, by - 0.05, cx + offset + half, by + 0.03)
    u, v = cv.uv(win)
    away, side = np.abs(u - cx), np.sign(u - cx)
    t = (away - offset) / half  # -1 inner end, +1 outer end
    line = by - b["arch"] * (1 - (t - 0.2) ** 2) + 0.004 * t
    thick = b["thickness"] * (1 - 0.225 * (t + 1))
    field = np.maximum(np.abs(v - line) - thick / 2, (np.abs(t) - 1) * half)
    colour = f.brow_rgb * (1 + 0.25 * np.clip(t, 0, 1))
    cv.paint(win, field, _sides(side, LEFT_BROW, RIGHT_BROW), colour, cv.labels[win] == SKIN)


def _paint_eyes(cv: _Canvas, f: _Face) -> None:
    """Almond openings with sclera, iris, pupil, lashes and a catch light; a lid crease above."""
    half_w, half_h = f.eye_size
    radius = half_w * 0.46
    lx, ly, _ = f.light
    ey = float(f.eyes[0, 1])  # both eyes share a row in the face frame
    cx, dx = _eye_axis(f)
    win = cv.window(cx - dx - half_w * 1.2, ey - half_h * 2.5, cx + dx + half_w * 1.2, ey + half_h * 1.5)
    u, v = cv.uv(win)
    away, side = np.abs(u - cx), np.sign(u - cx)
    t = (away - dx) / half_w  # -1 inner corner, +1 outer corner
    mid = ey - f.eye_tilt * half_h * t
    openness = np.maximum(1 - t * t, 0)
    upper, lower = mid - half_h * np.sqrt(openness) * 1.1, mid + half_h * openness * 0.75
    field = np.maximum(upper - v, v - lower)
    skin = cv.labels[win] == SKIN
    ix, iy = side * (away - dx) - f.gaze[0] * half_w * 0.4, v - ey - (f.gaze[1] - 0.1) * half_h
    centre = np.sqrt(ix * ix + iy * iy)
    gx, gy = ix - lx * radius * 0.4, iy + radius * (0.35 + 0.2 * ly)
    colour = _rgb([0.93, 0.91, 0.88]) * (1 - 0.3 * t * t)
    colour += cv.edge(centre - radius) * (f.iris * (1.25 - 0.6 * (centre / radius) ** 2) - colour)
    colour *= 1 - 0.97 * cv.edge(centre - radius * 0.45)  # pupil
    colour += cv.edge(np.sqrt(gx * gx + gy * gy) - radius * 0.22) * (0.95 - colour)  # catch light
    colour *= 0.15 + 0.85 * np.clip((v - upper) / (half_h * 0.5), 0, 1)  # lashes
    cv.paint(win, field, _sides(side, LEFT_EYE, RIGHT_EYE), colour, skin)
    gap = upper - v
    crease = (gap > half_h * 0.45) & (gap < half_h * 0.85) & (np.abs(t) < 0.9) & skin
    cv.tint(win, crease, 0.82)
    socket = np.exp(-(t * t) - ((v - ey) / (half_h * 2.5)) ** 2)
    cv.tint(win, skin & (field > 0), 1 - 0.12 * socket)


def _paint_nose(cv: _Canvas, f: _Face) -> None:
    """The nose from the bridge to below the tip, shaded away from the light, with nostrils, and
    its soft shadow on the lip."""
    bridge, wing, below = f.nose_shape
    nx, tip = f.nose
    top = float(f.eyes[:, 1].mean()) + 0.01
    bottom = tip + below
    win = cv.window(nx - wing * 1.3, top, nx + wing * 1.3, bottom + 0.05)
    u, v = cv.uv(win)
    t = np.clip((v - top) / (tip - top), 0, 1)
    after = np.clip((v - tip) / below, 0, 1)
    half = np.maximum((bridge + (wing - bridge) * t ** 4) * np.sqrt(1 - after * after), 1e-4)
    x = (u - nx) / half
    field = np.maximum((np.abs(x) - 1) * half, np.maximum(top - v, v - bottom))
    lx = f.light[0]
    shade = 1 - 0.28 * np.clip(-math.copysign(1, lx) * x, 0, 1) * (0.4 + abs(lx)) - 0.12 * x * x
    hx, hy = (u - nx + lx * bridge) / wing, (v - tip + 0.012) / 0.012
    shade += 0.14 * np.exp(-(hx * hx + hy * hy) * 2)
    dx, dy = (np.abs(u - nx) - wing * 0.5) / (wing * 0.32), (v - tip - below * 0.55) / (below * 0.3)
    shade *= 1 - 0.7 * cv.edge((np.sqrt(dx * dx + dy * dy) - 1) * below * 0.3)  # both nostrils
    skin = cv.labels[win] == SKIN
    cv.paint(win, field, NOSE, f.skin * shade, skin)
    sx, sy = (u - nx - lx * 0.01) / wing, (v - bottom - 0.008) / 0.012
    cv.tint(win, skin & (field > 0), 1 - 0.3 * np.exp(-sx * sx - sy * sy))


def _paint_mouth(cv: _Canvas, f: _Face) -> None:
    """Upper and lower lip around a mouth line with a Cupid's bow; sometimes open, showing teeth.
    One layer, labelled per pixel: lips above and below the line, inner mouth in the opening."""
    upper_t, lower_t, opening, smile = f.lip_size
    (x0, y0), (x1, y1) = f.mouth
    mx, my, half = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    win = cv.window(mx - half, my - upper_t - 0.01, mx + half, my + opening + lower_t + smile + 0.02)
    u, v = cv.uv(win)
    t = (u - mx) / half
    s = np.maximum(1 - t * t, 0)
    line = my + (y1 - y0) / 2 * t + smile * s
    root = np.sqrt(s)
    gap = opening * s
    inner_top, inner_bottom = line - gap * 0.4, line + gap * 0.6
    top = inner_top - upper_t * root * (1 - 0.3 * np.exp(-(t / 0.12) ** 2))  # Cupid's bow
    bottom = inner_bottom + lower_t * root
    mid_low = (v - (inner_bottom + bottom) / 2) / (lower_t * 0.35)
    upper = v < line
    shade = np.where(upper, np.float32(0.82), 1 + 0.2 * np.exp(-mid_low * mid_low))  # lit lower lip
    labels = np.where(upper, np.uint8(UPPER_LIP), np.uint8(LOWER_LIP))
    if opening:
        colour = f.lips * shade
        teeth = cv.edge(v - inner_top - gap * 0.45) * cv.edge((np.abs(t) - 0.7) * half)
        dark = _rgb([0.22, 0.06, 0.06])
        inner = dark + teeth * (_rgb([0.9, 0.88, 0.8]) * (f.ambient * 1.3) - dark)
        colour += cv.edge(np.maximum(inner_top - v, v - inner_bottom)) * (inner - colour)
        labels[(v > inner_top) & (v < inner_bottom)] = INNER_MOUTH
    else:
        colour = f.lips * (shade * (1 - 0.45 * np.exp(-(((v - line) / 0.006) ** 2))))  # dark seam
    skin = cv.labels[win] == SKIN
    cv.paint(win, np.maximum(top - v, v - bottom), labels, colour, skin)
    chin = (v - bottom - 0.012) / 0.01
    cv.tint(win, skin & (v > bottom), 1 - 0.15 * s * np.exp(-chin * chin))


def _render(image_size: int, seed: int, index: int) -> dict[str, torch.Tensor]:
    """Draw face ``index`` of ``seed`` at ``image_size``: ``image``, ``labels``, ``landmarks``."""
    rng = np.random.default_rng((seed, index))
    face = _sample_face(rng)
    cv = _Canvas(image_size, face)
    _paint_background(cv, rng)
    _paint_clothes(cv, face, rng)
    _paint_hair_back(cv, face)
    _paint_neck(cv, face)
    _paint_ears(cv, face)
    _paint_face(cv, face)
    _paint_hair_front(cv, face)
    _paint_brows(cv, face)
    _paint_eyes(cv, face)
    _paint_nose(cv, face)
    _paint_mouth(cv, face)
    s = image_size
    noise = rng.standard_normal((1, s, s), dtype=np.float32) * np.float32(0.03)
    rgb = np.clip(cv.rgb * 2 - 1 + noise, -1, 1)
    cos, sin = math.cos(face.angle) * face.scale, math.sin(face.angle) * face.scale
    points = np.concatenate([face.eyes, face.nose[None], face.mouth]).astype(np.float64)
    xy = np.stack([cos * points[:, 0] - sin * points[:, 1], sin * points[:, 0] + cos * points[:, 1]], 1)
    xy = (xy + _ORIGIN + np.array(face.shift)) * s - 0.5  # pixel centres at integers
    return {"image": torch.from_numpy(rgb),
            "labels": torch.from_numpy(cv.labels.astype(np.int64)),
            "landmarks": torch.from_numpy(xy.astype(np.float32))}


class SyntheticFaces(Dataset):
    """Procedurally drawn faces with exact 11-class parsing labels and 5 landmarks (works offline)."""

    face_layout = CELEBA_CROP

    def __init__(
        self,
        image_size: Annotated[int, Field(ge=16)] = 128,
        length: Annotated[int, Field(ge=1)] = 10000,
        seed: Annotated[int, Field(ge=0)] = 0,
        cache: bool = False,
    ) -> None:
        """
        :param image_size: side of the square images; a face looks the same at every size.
        :param length: number of items.
        :param seed: picks the set of faces; item ``i`` depends only on ``(seed, i)``.
        :param cache: keep each face once drawn (image in float16, labels in uint8: about 28 KB a
            64×64 face), so a run that walks the set several times draws each face once. Drawing
            costs about 2.7 ms a 64×64 face; the cache lives in the process that reads the item
            (use ``train.num_workers: 0``, where drawing then overlaps nothing).
        """
        self.image_size, self.length, self.seed = image_size, length, seed
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = {} if cache else None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -self.length <= index < self.length:
            raise IndexError(f"synthetic_faces: index {index} out of range for length {self.length}")
        index %= self.length
        item: dict[str, Any]
        if self._cache is None:
            item = _render(self.image_size, self.seed, index)
        else:
            if index not in self._cache:
                drawn = _render(self.image_size, self.seed, index)
                self._cache[index] = (drawn["image"].half(), drawn["labels"].to(torch.uint8), drawn["landmarks"])
            image, labels, landmarks = self._cache[index]
            item = {"image": image.float(), "labels": labels.long(), "landmarks": landmarks.clone()}
        item["path"] = f"synthetic_faces/seed{self.seed}/{index:06d}"
        return item


@hookimpl
def gfc_register(registry):
    registry.add("dataset", "synthetic_faces", SyntheticFaces)
