"""The example grid of docs/evaluation.md: scikit-image's public-domain photos (coffee, chelsea,
rocket; CC0 or public domain, see their docstrings) at their own size, a LaMa thick and a medium
hole on each (seed 0), filled by Telea, Navier-Stokes, the face model and the scene model through
``gfc-kit complete``'s pipeline (``--crop auto``). Needs scikit-image (``pip install scikit-image``)
and gfc-scenes installed. From the repository root:

    python plugins/gfc-scenes/benchmarks/scene_grid.py --output plugins/gfc-scenes/docs/images/scene_grid.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw

import gfc_kit
from gfc_kit import ModelCompleter
from gfc_kit.inference import PhotoCompleter

PHOTOS = ("coffee", "chelsea", "rocket")
COLUMNS = ("input", "telea", "navier_stokes", "gfc_celeba_128", "gfc_scenes_128", "original")


def main() -> None:
    import skimage.data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--width", type=int, default=300, help="each tile's width in the grid")
    args = parser.parse_args()
    models = {name: PhotoCompleter(ModelCompleter.pretrained(name), crop="hole" if name == "gfc_celeba_128" else "auto")
              for name in ("gfc_celeba_128", "gfc_scenes_128")}
    rows = []
    for number, name in enumerate(PHOTOS):
        photo = getattr(skimage.data, name)()
        height, width = photo.shape[:2]
        preset = ("thick", "medium")[number % 2]
        sampler = gfc_kit.create("mask_sampler", "lama", preset=preset)
        hole = sampler.draw(height, width, torch.Generator().manual_seed(number)).astype(bool)
        tiles = {"input": np.where(hole[..., None], 255, photo).astype(np.uint8), "original": photo}
        for method, flag in (("telea", cv2.INPAINT_TELEA), ("navier_stokes", cv2.INPAINT_NS)):
            tiles[method] = cv2.inpaint(np.ascontiguousarray(photo), hole.astype(np.uint8), 5, flag)
        for model, completer in models.items():
            tiles[model] = completer(photo, hole=hole, name=name)
        size = (args.width, round(height * args.width / width))
        rows.append([Image.fromarray(tiles[c]).resize(size, Image.Resampling.LANCZOS) for c in COLUMNS])
    gap, label = 4, 18
    grid_w = len(COLUMNS) * (args.width + gap) - gap
    grid_h = label + sum(row[0].height + gap for row in rows) - gap
    grid = Image.new("RGB", (grid_w, grid_h), "white")
    draw = ImageDraw.Draw(grid)
    for i, column in enumerate(COLUMNS):
        draw.text((i * (args.width + gap) + 4, 3), column, fill="black")
    y = label
    for row in rows:
        for i, tile in enumerate(row):
            grid.paste(tile, (i * (args.width + gap), y))
        y += row[0].height + gap
    args.output.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.output, quality=90)
    print(f"wrote {args.output} ({grid_w}×{grid_h})")


if __name__ == "__main__":
    main()
