"""Refiners: the photo's own fine detail brought into a fill that was made at a lower resolution.

A model completes a face or a crop at its own size (128×128 for the face models); warped back onto
a large photo, its fill is that many times enlarged, a smooth patch in a sharp photo. A refiner
runs between warping the fill back and blending it, at the photo's resolution: it takes the photo
and the fill as ``H×W×3`` float32 in ``[0, 1]``, the hole as ``H×W`` bool, and ``scale``, the photo
pixels per model pixel, and returns a fill in which only hole pixels may differ.

``residual`` is contextual residual aggregation (Yi et al., *Contextual Residual Aggregation for
Ultra High-Resolution Image Inpainting*, CVPR 2020, HiFill): the completed image is split into its
low-resolution part (the model's scale) and the residual above it; each hole block takes the
residual of the known place whose low-resolution window looks most like its own (compared at the
model's scale, on the completed image, so the model's semantics choose what goes where), at full
resolution. HiFill learns its attention features and averages many matches; here the features are
the low-resolution colours themselves, and each block keeps its best displacement only, compared
over windows that overlap its neighbours', so neighbours copy one contiguous piece of the photo:
a softmax over per-block matches, tried first, tiled one patch across smooth fills or averaged the
detail away.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from gfc_kit.hookspecs import hookimpl

log = logging.getLogger("gfc_kit.complete")


class NoRefiner:
    """The fill as the model made it, enlarged (gfc-kit 0.2's behaviour)."""

    def context(self, hole: np.ndarray, scale: float) -> int:
        return 0

    def __call__(self, photo: np.ndarray, fill: np.ndarray, hole: np.ndarray, scale: float) -> np.ndarray:
        return fill


class ResidualRefiner:
    """Contextual residual aggregation: the known region's high frequencies, chosen by their
    low-resolution likeness to the completed hole, added to the enlarged fill in the hole."""

    def __init__(self, patch_size: int = 5, band: float = 1.0, strength: float = 1.0, max_offsets: int = 1024,
                 context: float = 0.5) -> None:
        self.patch_size = patch_size | 1
        self.context_share = context
        self.band = band
        self.strength = strength
        self.max_offsets = max_offsets

    def factor(self, scale: float) -> int:
        """The side, in photo pixels, of one low-resolution block: the enlargement times ``band``."""
        return int(round(scale * self.band))

    def context(self, hole: np.ndarray, scale: float) -> int:
        """Photo pixels of known context the refiner reads around the hole's box: ``context`` times
        the box's longer side, and at least a few comparison windows; none where it would not refine."""
        ys, xs = np.nonzero(hole)
        if not len(xs) or self.factor(scale) < 2:
            return 0
        side = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
        return int(max(side * self.context_share, 3 * self.factor(scale) * self.patch_size))

    @torch.inference_mode()
    def __call__(self, photo: np.ndarray, fill: np.ndarray, hole: np.ndarray, scale: float) -> np.ndarray:
        s = self.factor(scale)
        if s < 2 or not hole.any():
            return fill  # the fill is already at the photo's resolution
        completed = np.where(hole[..., None], fill, photo)
        image = torch.from_numpy(np.ascontiguousarray(completed.transpose(2, 0, 1)))[None].float()
        height, width = hole.shape
        pad = (0, -width % s, 0, -height % s)
        image = F.pad(image, pad, mode="replicate")
        del completed
        mask = F.pad(torch.from_numpy(hole)[None, None].float(), pad, value=0.0)
        low = F.avg_pool2d(image, s)  # the completed image at the model's scale: what is compared
        residual = image.sub_(F.interpolate(low, scale_factor=s, mode="bilinear", align_corners=False))
        del image
        low_hole = F.max_pool2d(mask, s)[0, 0] > 0
        # a source block's 2s×2s residual patch must lie wholly in the known photo
        source = F.max_pool2d(low_hole[None, None].float(), 3, 1, 1)[0, 0] == 0
        offsets = _offsets(low_hole, source, self.max_offsets)
        if offsets is None:
            log.warning("residual refiner: no known context around the hole; the fill is left as the model made it")
            return fill
        rows, cols = low_hole.nonzero(as_tuple=True)
        r0, c0, r1, c1 = int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1
        choice = self._match(low[0], source, offsets, (r0, c0, r1, c1))
        grid = (r1 - r0, c1 - c0)
        chosen = choice[rows - r0, cols - c0]
        found = chosen >= 0
        rows, cols, chosen = rows[found], cols[found], chosen[found]
        w = low.shape[-1]
        sources = (rows + offsets[chosen, 0]) * w + cols + offsets[chosen, 1]
        window = _tent(s)
        slots = (rows - r0) * grid[1] + (cols - c0)
        columns = torch.zeros(3 * 4 * s * s, grid[0] * grid[1])
        weights = torch.zeros(4 * s * s, grid[0] * grid[1])
        columns[:, slots] = (_patches(residual, sources, w, s) * window.repeat(3)).T
        weights[:, slots] = window[:, None]
        size = (grid[0] * s + s, grid[1] * s + s)  # the blocks' area and half a block around it
        added = F.fold(columns[None], size, 2 * s, stride=s)[0] / F.fold(weights[None], size, 2 * s, stride=s)[0].clamp_min(1e-6)
        detail = torch.zeros(3, *residual.shape[-2:])
        top, left = r0 * s - s // 2, c0 * s - s // 2
        y0, x0 = max(top, 0), max(left, 0)
        target = detail[:, y0:top + size[0], x0:left + size[1]]
        target += added[:, y0 - top:y0 - top + target.shape[1], x0 - left:x0 - left + target.shape[2]]
        refined = fill + self.strength * detail[:, :height, :width].permute(1, 2, 0).numpy()
        return np.where(hole[..., None], np.clip(refined, 0, 1), fill).astype(np.float32)

    def _match(self, low: torch.Tensor, source: torch.Tensor, offsets: torch.Tensor,
               box: tuple[int, int, int, int]) -> torch.Tensor:
        """For each block of ``box`` (low-resolution ``r0, c0, r1, c1``), the index of the offset whose
        ``patch_size`` window of the completed image is most alike (sum of squared differences), -1
        where no offset reaches a known block. Neighbouring blocks compare overlapping windows, so
        they agree on an offset and copy one contiguous piece of the photo, not a repeated tile."""
        r0, c0, r1, c1 = box
        half = self.patch_size // 2
        reach = int(offsets.abs().max()) + half
        padded = F.pad(low[None], [reach] * 4, mode="replicate")[0]
        known = F.pad(source[None, None].float(), [reach] * 4, value=0.0)[0, 0] > 0
        here = padded[:, r0 + reach - half:r1 + reach + half, c0 + reach - half:c1 + reach + half]
        best = torch.full((r1 - r0, c1 - c0), float("inf"))
        choice = torch.full((r1 - r0, c1 - c0), -1, dtype=torch.long)
        for index, (dy, dx) in enumerate(offsets.tolist()):
            y, x = r0 + reach + dy, c0 + reach + dx
            there = padded[:, y - half:r1 - r0 + y + half, x - half:c1 - c0 + x + half]
            cost = F.avg_pool2d((here - there).square().sum(0)[None], self.patch_size, 1)[0]
            cost[~known[y:y + r1 - r0, x:x + c1 - c0]] = float("inf")
            better = cost < best
            best[better], choice[better] = cost[better], index
        return choice


def _offsets(hole: torch.Tensor, source: torch.Tensor, limit: int) -> torch.Tensor | None:
    """Candidate displacements ``K×2`` (rows, cols of low-resolution blocks) from the hole to known
    blocks: every one within the context, thinned evenly to at most ``limit``; ``None`` without any
    known block."""
    if not bool(source.any()):
        return None
    h, w = hole.shape
    rows, cols = hole.nonzero(as_tuple=True)
    dy = torch.arange(-int(rows.max()), h - int(rows.min()))
    dx = torch.arange(-int(cols.max()), w - int(cols.min()))
    step = max(1, math.ceil(math.sqrt(len(dy) * len(dx) / limit)))
    grid = torch.stack(torch.meshgrid(dy[::step], dx[::step], indexing="ij"), -1).reshape(-1, 2)
    return grid[(grid != 0).any(1)]


def _tent(s: int) -> torch.Tensor:
    """A ``2s×2s`` window (flattened) whose copies at stride ``s`` add up to 1: where neighbouring
    blocks copy from different places, the two fade into each other and no block edge shows."""
    t = 1 - (torch.arange(2 * s) + 0.5 - s).abs() / s
    return (t[:, None] * t[None, :]).flatten()


def _patches(residual: torch.Tensor, blocks: torch.Tensor, width: int, s: int) -> torch.Tensor:
    """The ``2s×2s`` residual patches (``K×3·4s²``) centred on low-resolution ``blocks`` (flat indices)."""
    padded = F.pad(residual, [s] * 4, mode="replicate")[0]
    offsets = torch.arange(2 * s)
    top = (blocks // width) * s + s - s // 2
    left = (blocks % width) * s + s - s // 2
    rows = (top[:, None] + offsets)[:, :, None]
    cols = (left[:, None] + offsets)[:, None, :]
    return padded[:, rows, cols].permute(1, 0, 2, 3).reshape(len(blocks), -1)


def none() -> NoRefiner:
    """No refinement: the model's fill enlarged to the photo."""
    return NoRefiner()


def residual(patch_size: Annotated[int, Field(ge=1, le=15)] = 5,
             band: Annotated[float, Field(gt=0, le=4)] = 1.0,
             strength: Annotated[float, Field(ge=0, le=4)] = 1.0,
             max_offsets: Annotated[int, Field(ge=1)] = 1024,
             context: Annotated[float, Field(gt=0, le=4)] = 0.5) -> ResidualRefiner:
    """Contextual residual aggregation (HiFill): the known region's high frequencies, chosen by
    their likeness at the model's scale, added to the fill.

    :param patch_size: side, in model pixels, of the windows compared (odd); larger windows make
        neighbouring blocks copy from one place.
    :param band: the residual holds the frequencies above ``band`` times the model's pixel: 1 is
        exactly what enlarging the fill lost.
    :param strength: multiplies the residual added (0 = ``none``).
    :param max_offsets: displacements tried at most (evenly spread), bounding time and memory.
    :param context: how far around the hole's box it looks for detail, in the box's longer side."""
    return ResidualRefiner(patch_size, band, strength, max_offsets, context)


@hookimpl
def gfc_register(registry):
    registry.add("refiner", "none", none)
    registry.add("refiner", "residual", residual)

