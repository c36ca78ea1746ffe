"""Photo files in, completed photo files out: the work behind ``gfc-kit complete``.

Photos keep what they are: EXIF orientation is applied, and gray, RGBA and 16-bit photos are
completed and written as gray, RGBA and 16-bit PNGs, every pixel outside the blend band as read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from gfc_kit.errors import GfcError
from gfc_kit.imaging import IMAGE_SUFFIXES, list_images
from gfc_kit.inference.pipeline import PhotoCompleter, as_rgb8
from gfc_kit.outputs import output_folder

_EXIF_ORIENTATION = 0x0112


def read_photo(path: Path) -> np.ndarray:
    """A photo file as ``H×W`` (gray), ``H×W×3`` (RGB) or ``H×W×4`` (RGBA), uint8 or uint16,
    turned upright by its EXIF orientation."""
    try:
        with Image.open(path) as opened:
            opened.load()
            if _sixteen_bit(opened, path):
                return _turn(_read_16bit(path), opened)
            upright = ImageOps.exif_transpose(opened)
            mode = {"1": "L", "L": "L", "RGBA": "RGBA", "LA": "RGBA", "PA": "RGBA"}.get(upright.mode, "RGB")
            if "transparency" in upright.info:  # a palette, gray or RGB image with a transparent colour
                mode = "RGBA"
            return np.asarray(upright.convert(mode)).copy()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise GfcError(f"{path}: cannot read: {exc}") from None


def _sixteen_bit(image: Image.Image, path: Path) -> bool:
    """Whether the file stores 16 bits per channel (Pillow would cut RGB ones to 8)."""
    if image.mode.startswith("I"):
        return True
    if image.format == "PNG":
        with open(path, "rb") as raw:
            return raw.read(25)[24] == 16  # IHDR's bit depth
    if image.format == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) == 16
    return False


def _read_16bit(path: Path) -> np.ndarray:
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise OSError("OpenCV could not decode this 16-bit image")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return array


def _turn(array: np.ndarray, image: Image.Image) -> np.ndarray:
    """``array`` turned as EXIF orientation 2–8 says (Pillow's exif_transpose, for arrays)."""
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    turns = {2: (0, True), 3: (2, False), 4: (2, True), 5: (1, True), 6: (3, False), 7: (3, True), 8: (1, False)}
    quarter, mirror = turns.get(orientation, (0, False))
    array = np.fliplr(array) if mirror else array
    return np.ascontiguousarray(np.rot90(array, quarter))


def write_photo(path: Path, array: np.ndarray) -> Path:
    """Write a photo array as PNG, keeping its channels and bit depth."""
    out = array
    if array.ndim == 3:
        out = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA if array.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), out):
        raise GfcError(f"{path}: could not write the completed photo")
    return path


def read_mask(mask_file: Path, shape: tuple[int, int], polarity: str = "white_hole") -> np.ndarray:
    """A mask file as an ``H×W`` bool hole for a photo of ``shape`` (resized nearest when needed):
    white (>= 128, or 1 in a 0/1 file) is the hole, or black with ``black_hole``."""
    try:
        with Image.open(mask_file) as opened:
            gray = np.asarray(ImageOps.exif_transpose(opened).convert("L"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise GfcError(f"--mask {mask_file}: cannot read: {exc}") from None
    if gray.shape != shape:
        if abs(gray.shape[1] / gray.shape[0] - shape[1] / shape[0]) > 0.01 * shape[1] / shape[0]:
            raise GfcError(f"--mask {mask_file}: {gray.shape[1]}×{gray.shape[0]} is not the shape of the "
                           f"{shape[1]}×{shape[0]} photo (as shown, EXIF orientation applied); draw the mask on it")
        gray = cv2.resize(gray, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    white = gray >= (128 if gray.max(initial=0) > 1 else 1)
    hole = ~white if polarity == "black_hole" else white
    if not hole.any():
        colour, other = ("black", "white_hole") if polarity == "black_hole" else ("white", "black_hole")
        raise GfcError(f"--mask {mask_file}: has no hole pixel ({colour} marks the hole); draw the hole, "
                       f"or give --mask-polarity {other}")
    return hole


def box_hole(box: str, shape: tuple[int, int]) -> np.ndarray:
    """``--box x,y,w,h`` as an ``H×W`` bool hole."""
    height, width = shape
    try:
        x, y, w, h = (int(v) for v in box.split(","))
    except ValueError:
        raise GfcError(f"--box {box}: expected four whole numbers x,y,w,h") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise GfcError(f"--box {box}: must lie inside the {width}×{height} photo")
    hole = np.zeros(shape, dtype=bool)
    hole[y:y + h, x:x + w] = True
    return hole


def mask_for(photo_path: Path, masks: Path) -> Path:
    """The mask of ``photo_path``: ``masks`` itself when it is a file, else the file in the folder
    ``masks`` with the photo's stem."""
    if masks.is_file():
        return masks
    if not masks.is_dir():
        raise GfcError(f"--mask {masks}: no such file or folder")
    found = [p for p in masks.glob(f"{glob_escape(photo_path.stem)}.*") if p.suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise GfcError(f"{photo_path}: no mask named {photo_path.stem}.* in {masks}")
    if len(found) > 1:
        raise GfcError(f"{photo_path}: several masks named {photo_path.stem}.* in {masks}: "
                       f"{', '.join(p.name for p in sorted(found))}")
    return found[0]


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def complete_files(photos: PhotoCompleter, inputs: Path, output: Path, mask: Path | None = None,
                   polarity: str = "white_hole", box: str | None = None, region: str | None = None,
                   panel: bool = False, on_error: Callable[[Path, GfcError], None] | None = None) -> Iterator[Path]:
    """Complete each photo of ``inputs`` (a file or folder) into ``output/<stem>.png`` and yield
    the files written. In a folder, a photo that fails goes to ``on_error`` and the rest are
    still completed (without ``on_error`` the first failure is raised)."""
    if not inputs.exists():
        raise GfcError(f"--input {inputs}: no such file or folder")
    if mask is not None and not mask.exists():
        raise GfcError(f"--mask {mask}: no such file or folder")
    if mask is not None and inputs.is_file() and mask.is_dir():
        mask = mask_for(inputs, mask)
    files = [inputs] if inputs.is_file() else list_images(inputs)
    output_folder(output)
    stems = Counter(p.stem for p in files)
    for path in files:  # a.jpg and a.png in one folder become a_jpg.png and a_png.png
        name = path.stem if stems[path.stem] == 1 else f"{path.stem}_{path.suffix.lstrip('.').lower()}"
        try:
            yield from _complete_one(photos, path, output / name, mask, polarity, box, region, panel)
        except Exception as exc:  # in a folder, one photo's failure must not cost the others
            if on_error is None or inputs.is_file():
                raise
            on_error(path, exc if isinstance(exc, GfcError) else GfcError(f"{path}: {type(exc).__name__}: {exc}"))


def _complete_one(photos: PhotoCompleter, path: Path, target: Path, mask: Path | None, polarity: str,
                  box: str | None, region: str | None, panel: bool) -> Iterator[Path]:
    """Complete ``path`` into ``target`` + ``.png`` (and ``_panel.png``)."""
    photo = read_photo(path)
    shape = photo.shape[:2]
    hole = (read_mask(mask_for(path, mask), shape, polarity) if mask is not None
            else box_hole(box, shape) if box is not None else None)
    done, filled = photos.complete(photo, hole, region, name=str(path))
    yield write_photo(target.with_name(f"{target.name}.png"), done)
    if panel:
        masked = as_rgb8(photo).copy()
        masked[filled] = 255
        strip = np.concatenate([as_rgb8(photo), masked, as_rgb8(done)], 1)
        strip_file = target.with_name(f"{target.name}_panel.png")
        Image.fromarray(strip).save(strip_file)
        yield strip_file
