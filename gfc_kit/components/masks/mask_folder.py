"""Holes read from mask image files, so results are comparable with published mask sets.

NVIDIA's irregular masks (Liu et al., "Image Inpainting for Irregular Holes Using Partial
Convolutions", ECCV 2018) mark the hole white (255); MAT's masks (Li et al., CVPR 2022) mark the
*known* pixels white, hence ``polarity``. Masks are resized to the image by area averaging and
then thresholded, not by nearest neighbour: a thin stroke of a 512 px mask then survives at
128 px in proportion to how much of each pixel it covers, so the hole fraction, by which the
NVIDIA set is binned, is kept (nearest neighbour samples one pixel in 16 and can drop or fatten
strokes). Decoded, resized masks are cached per file and size on first use; a folder of
thousands of masks is only listed at construction, never read up front.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from gfc_kit.components.masks.geometry import image_shape
from gfc_kit.errors import DataError
from gfc_kit.hookspecs import hookimpl
from gfc_kit.imaging import list_images, read_image


class MaskFolder:
    """Masks from image files under a folder (e.g. NVIDIA irregular masks), random or paired by name."""

    def __init__(
        self,
        root: Path,
        polarity: Literal["white_hole", "black_hole"] = "white_hole",
        order: Literal["random", "paired"] = "random",
        pattern: str = "*",
        threshold: Annotated[int, Field(ge=1, le=255)] = 128,
    ) -> None:
        """:param root: folder searched recursively for image files whose name matches ``pattern``.
        :param polarity: ``white_hole`` (NVIDIA: 255 = hole) or ``black_hole`` (MAT: 255 = known).
        :param order: ``random``: each image gets a file drawn with the generator; ``paired``: the
            file whose stem equals the stem of the image's ``path`` in the batch.
        :param pattern: glob on file names, e.g. ``mat_*``.
        :param threshold: gray level (after resizing) from which a pixel counts as white."""
        self.root = Path(root)
        self.polarity = polarity
        self.order = order
        self.threshold = threshold
        self.files = list_images(self.root, pattern)
        self._by_stem = _index_stems(self.files, self.root) if order == "paired" else {}
        self._cache: dict[tuple[Path, int, int], torch.Tensor] = {}

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        n, h, w, device = image_shape(batch)
        if self.order == "random":
            picks = torch.randint(len(self.files), (n,), generator=generator).tolist()
            files = [self.files[i] for i in picks]
        else:
            files = [self._paired(Path(p)) for p in _batch_paths(batch, n)]
        return torch.stack([self._hole(f, h, w) for f in files]).unsqueeze(1).float().to(device)

    def _paired(self, image_path: Path) -> Path:
        try:
            return self._by_stem[image_path.stem]
        except KeyError:
            raise DataError(
                f"{self.root}: no mask named {image_path.stem}.* for image {image_path}") from None

    def _hole(self, path: Path, h: int, w: int) -> torch.Tensor:
        """The ``H×W`` bool hole of the mask file at ``path`` resized to ``h × w`` (cached)."""
        key = (path, h, w)
        if key not in self._cache:
            try:
                gray = read_image(path, "L")
            except OSError as exc:
                raise DataError(f"{path}: cannot read mask: {str(exc).splitlines()[0]}") from None
            if gray.max() == 1:  # a 0/1 mask file: 1 is white
                gray = gray * 255
            level = F.interpolate(gray[None].float(), size=(h, w), mode="area")[0, 0]
            white = level >= self.threshold
            self._cache[key] = white if self.polarity == "white_hole" else ~white
        return self._cache[key]


def _index_stems(files: list[Path], root: Path) -> dict[str, Path]:
    """Stem → file, for pairing; two files with one stem would make the pairing ambiguous."""
    by_stem: dict[str, Path] = {}
    for path in files:
        if path.stem in by_stem:
            raise DataError(
                f"{root}: masks {by_stem[path.stem]} and {path} share a stem; pairing needs unique names")
        by_stem[path.stem] = path
    return by_stem


def _batch_paths(batch: dict, n: int) -> list[str | Path]:
    """The batch's ``path`` list, which ``order: paired`` needs to find each image's mask."""
    paths = batch.get("path")
    if paths is None:
        raise DataError("mask_folder with order 'paired' needs 'path' in the batch to find each image's mask")
    if len(paths) != n:
        raise DataError(f"mask_folder with order 'paired': the batch has {n} images but {len(paths)} paths")
    return list(paths)


@hookimpl
def gfc_register(registry):
    registry.add("mask_sampler", "mask_folder", MaskFolder)
