"""Photo files in, completed photo files out: the work behind ``gfc-kit complete``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from gfc_kit.inference import Crop, ModelCompleter, photo_box
from gfc_kit.components.masks.boxes import O_BOXES
from gfc_kit.errors import GfcError
from gfc_kit.imaging import list_images


def hole_for(photo: Image.Image, mask_file: Path | None = None, polarity: str = "white_hole",
             box: str | None = None, region: str | None = None, crop: Crop = "auto") -> Image.Image:
    """The hole for ``photo`` as a gray image (255 = hole) of the photo's size."""
    width, height = photo.size
    if mask_file is not None:
        try:
            with Image.open(mask_file) as opened:
                mask = opened.convert("L").resize(photo.size, Image.NEAREST)
            if mask.getextrema()[1] == 1:  # a 0/1 mask file: 1 is white
                mask = mask.point(lambda v: 255 * v)
        except OSError as exc:
            raise GfcError(f"--mask {mask_file}: cannot read: {exc}") from None
        mask = ImageOps.invert(mask) if polarity == "black_hole" else mask
        if mask.getextrema()[1] < 128:
            colour, other = ("black", "white_hole") if polarity == "black_hole" else ("white", "black_hole")
            raise GfcError(f"--mask {mask_file}: has no hole pixel ({colour} marks the hole); draw the hole, "
                           f"or give --mask-polarity {other}")
        return mask
    hole = np.zeros((height, width), dtype=np.uint8)
    if box is not None:
        try:
            x, y, w, h = (int(v) for v in box.split(","))
        except ValueError:
            raise GfcError(f"--box {box}: expected four whole numbers x,y,w,h") from None
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise GfcError(f"--box {box}: must lie inside the {width}×{height} photo")
        hole[y:y + h, x:x + w] = 255
    else:
        x0, y0, x1, y1 = photo_box(photo.size, crop)
        fx0, fy0, fx1, fy1 = O_BOXES[region]
        sw, sh = x1 - x0, y1 - y0
        hole[round(y0 + fy0 * sh):round(y0 + fy1 * sh), round(x0 + fx0 * sw):round(x0 + fx1 * sw)] = 255
    return Image.fromarray(hole)


def complete_files(completer: ModelCompleter, inputs: Path, output: Path, crop: Crop = "auto", panel: bool = False,
                   **hole: object) -> Iterator[Path]:
    """Complete each image of ``inputs`` (a file or folder) into ``output``; yield the files written."""
    if not inputs.exists():
        raise GfcError(f"--input {inputs}: no such file or folder")
    if output.exists() and not output.is_dir():
        raise GfcError(f"--output {output}: is a file, not a folder; choose another")
    files = [inputs] if inputs.is_file() else list_images(inputs)
    output.mkdir(parents=True, exist_ok=True)
    for path in files:
        try:
            with Image.open(path) as opened:
                photo = ImageOps.exif_transpose(opened).convert("RGB")
        except OSError as exc:
            raise GfcError(f"{path}: cannot read: {exc}") from None
        mask = hole_for(photo, crop=crop, **hole)
        done = completer.complete_photo(photo, mask, crop)
        target = output / f"{path.stem}.png"
        done.save(target)
        yield target
        if panel:
            masked = Image.composite(Image.new("RGB", photo.size, (255, 255, 255)), photo, mask)
            strip = Image.new("RGB", (photo.width * 3, photo.height))
            for i, picture in enumerate((photo, masked, done)):
                strip.paste(picture, (i * photo.width, 0))
            target = output / f"{path.stem}_panel.png"
            strip.save(target)
            yield target
