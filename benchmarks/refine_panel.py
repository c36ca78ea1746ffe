"""The picture of docs/completing.md: a public-domain portrait (scikit-image's ``astronaut``, NASA)
with holes over an eye and across the mouth, completed by the default model through ``--align
dlib`` with ``--refine none`` and with ``residual``, shown at the photo's own scale.

    pip install scikit-image -e plugins/gfc-align
    python benchmarks/refine_panel.py --output docs/images/refine_astronaut.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from gfc_kit import create
from gfc_kit.inference import ModelCompleter, PhotoCompleter


def holes(shape: tuple[int, int]) -> np.ndarray:
    """A box over the astronaut's left eye (image right) and a brush stroke across her mouth."""
    hole = np.zeros(shape, np.uint8)
    hole[90:116, 230:274] = 1
    cv2.polylines(hole, [np.array([[184, 143], [205, 134], [230, 141], [262, 131]])], False, 1, thickness=8)
    return hole.astype(bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--model", default="gfc_celeba_128")
    args = parser.parse_args()
    from skimage import data

    photo = data.astronaut()
    hole = holes(photo.shape[:2])
    model = ModelCompleter.pretrained(args.model)
    aligner = create("aligner", "dlib")
    done = {name: PhotoCompleter(model, create("blender", "poisson"), aligner, refiner=create("refiner", name))(photo, hole)
            for name in ("none", "residual")}
    masked = np.where(hole[..., None], 255, photo).astype(np.uint8)
    box = (150, 40, 310, 200)  # x0, y0, x1, y1: the face, shown twice as large as in the photo
    tiles = [Image.fromarray(a[box[1]:box[3], box[0]:box[2]]).resize(((box[2] - box[0]) * 2, (box[3] - box[1]) * 2),
                                                                      Image.NEAREST)
             for a in (masked, done["none"], done["residual"], photo)]
    labels = ["holes", "--refine none", "--refine residual (default)", "original"]
    width, height = tiles[0].size
    sheet = Image.new("RGB", (width * len(tiles), height + 24), "white")
    pen = ImageDraw.Draw(sheet)
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        sheet.paste(tile, (i * width, 24))
        pen.text((i * width + 6, 6), label, fill="black")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
