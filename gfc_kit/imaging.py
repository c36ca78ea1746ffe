"""Image I/O and conversions between files, uint8 tensors and the ``[-1, 1]`` contract."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid, save_image

from gfc_kit.errors import DataError, GfcError

MIN_SIDE = 8
"""The smallest image side gfc-kit takes, as a photo to complete or a training image: below it no
blender, refiner or crop has pixels to work with, and an image enlarged to a model's size is a blur."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

# One colour per parsing class (PARSING_CLASSES order), chosen to be told apart at a glance.
PALETTE = torch.tensor(
    [
        [0, 0, 0],  # background
        [230, 180, 150],  # skin
        [120, 60, 20],  # left brow
        [200, 110, 40],  # right brow
        [0, 120, 255],  # left eye
        [0, 220, 255],  # right eye
        [255, 220, 0],  # nose
        [220, 0, 60],  # upper lip
        [120, 0, 160],  # inner mouth
        [255, 90, 160],  # lower lip
        [60, 160, 60],  # hair
    ],
    dtype=torch.uint8,
)


def list_images(root: Path, pattern: str = "*", recursive: bool = True) -> list[Path]:
    """Image files under ``root`` whose names match ``pattern``, sorted; a missing folder or no
    match is a :class:`DataError` naming the folder."""
    if root.is_file():
        raise DataError(f"{root}: is a file, not a folder of images")
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    candidates = root.rglob(pattern) if recursive else root.glob(pattern)
    files = sorted(p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{root}: no images matching {pattern!r} (looked for {' '.join(IMAGE_SUFFIXES)})")
    return files


def read_image(path: str | Path, mode: Literal["RGB", "L"] = "RGB") -> torch.Tensor:
    """A ``C×H×W`` uint8 tensor from an image file, converted to RGB or gray (``L``).

    Pillow decodes (torchvision's decoders are deprecated in favour of TorchCodec); an unreadable
    or truncated file raises ``OSError``.
    """
    with Image.open(path) as image:
        array = np.asarray(image.convert(mode))
    return torch.from_numpy(array.copy()).view(*array.shape[:2], -1).permute(2, 0, 1)


def read_label_map(path: str | Path) -> torch.Tensor:
    """An ``H×W`` uint8 tensor of the ids stored in a label image (gray or palette PNG), unconverted:
    converting a palette image to gray would turn ids into brightness."""
    with Image.open(path) as image:
        if image.mode not in ("L", "P"):
            raise OSError(f"a label map must be a gray or palette image, not {image.mode}")
        return torch.from_numpy(np.asarray(image).copy())


def to_signed(image: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` → float32 ``[-1, 1]``."""
    return image.float().div(127.5).sub(1.0)


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """float ``[-1, 1]`` → uint8 ``[0, 255]`` (clamped, rounded)."""
    return image.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def colorize(labels: torch.Tensor) -> torch.Tensor:
    """Parsing labels ``(N×)H×W`` → float ``(N×)3×H×W`` in ``[-1, 1]`` with :data:`PALETTE`."""
    rgb = PALETTE.to(labels.device)[labels.clamp(0, len(PALETTE) - 1)]  # ...×H×W×3
    return to_signed(rgb.movedim(-1, -3))


def save_grid(rows: Sequence[torch.Tensor], path: str | Path, padding: int = 2,
              labels: Sequence[str] | None = None) -> Path:
    """Save rows of ``N×3×H×W`` images in ``[-1, 1]`` (each row one tensor) as one PNG grid,
    with ``labels`` written in a margin left of the rows when given."""
    columns = rows[0].shape[0]
    tiles = torch.cat([r.detach().float().cpu() for r in rows])
    grid = make_grid(tiles, nrow=columns, padding=padding, normalize=True, value_range=(-1, 1), pad_value=1.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if labels is None:
        save_image(grid, path)
        return path
    from PIL import ImageDraw

    picture = Image.fromarray(grid.mul(255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy())
    margin = 8 + 7 * max(len(label) for label in labels)
    labelled = Image.new("RGB", (picture.width + margin, picture.height), "white")
    labelled.paste(picture, (margin, 0))
    draw = ImageDraw.Draw(labelled)
    row_height = rows[0].shape[-2] + padding
    for i, label in enumerate(labels):
        draw.text((4, padding + i * row_height + rows[0].shape[-2] // 2 - 5), label, fill="black")
    labelled.save(path)
    return path


def hole_array(mask: Any, where: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask as a boolean array (``True`` = hole), whatever form it comes in: a PIL image (white,
    i.e. >= 128, is the hole; an image of only 0 and 1 is a 0/1 mask; mode ``1`` as is), a bool array or tensor, a 0/1 or float array or
    tensor (above 0.5 is the hole), or a 0–255 integer array (>= 128). ``size`` (width, height)
    resizes an image mask to a photo (nearest); an array must already have that size.
    ``where`` names the argument in errors."""
    if isinstance(mask, Image.Image):
        gray = mask if mask.mode == "1" else mask.convert("L")
        if size is not None and gray.size != size:
            gray = gray.resize(size, Image.NEAREST)
        array = np.asarray(gray)
        return array if array.dtype == bool else array >= (128 if array.max(initial=0) > 1 else 1)
    if torch.is_tensor(mask):
        mask = mask.detach().cpu().numpy()
    if not isinstance(mask, np.ndarray):
        raise GfcError(f"{where}: expected an image, an array or a tensor, got {type(mask).__name__}")
    if mask.ndim == 3 and mask.shape[-1] in (1, 3, 4) and size is not None:
        mask = mask[..., 0]
    if size is not None and mask.shape != (size[1], size[0]):
        raise GfcError(f"{where}: a {mask.shape[1] if mask.ndim > 1 else '?'}×{mask.shape[0]} array for a "
                       f"{size[0]}×{size[1]} photo; give the photo's size")
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.floating):
        if not np.isfinite(mask).all():
            raise GfcError(f"{where}: has NaN or infinite values")
        return mask > (0.5 if mask.max(initial=0) <= 1 else 127.5)
    if np.issubdtype(mask.dtype, np.integer):
        return mask >= (128 if mask.max(initial=0) > 1 else 1)
    raise GfcError(f"{where}: unsupported mask values of type {mask.dtype}")
