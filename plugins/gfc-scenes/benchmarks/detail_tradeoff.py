"""What detail costs in hole L1 on photos at their own size: the held-out BSDS500 photos of
``../shared/data`` with one NVIDIA irregular mask of 20–40 % each, completed by a model at the
photo's scale (``--crop hole``), by OpenCV's Telea and Navier-Stokes, by blends of the model's fill
with a classical one near the hole's rim (the classical methods are best a few pixels from known
pixels), and by those fills with the ``residual`` refiner's detail added at a given band and
strength. Prints hole L1 and the detail ratio (σ = 2 px) for each.

    GFC_KIT_PLUGINS=gfc_scenes python plugins/gfc-scenes/benchmarks/detail_tradeoff.py gfc_scenes_128

Issue #17 asks for detail 0.7–1.3 *and* a hole L1 below both classical methods here; this script
is how the gap was measured (docs/evaluation.md of this plugin).
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import cv2
import numpy as np
import torch

from gfc_kit.components.blenders import Paste
from gfc_kit.components.refiners import NoRefiner, ResidualRefiner
from gfc_kit.frequency import detail_energy
from gfc_kit.inference import ModelCompleter, PhotoCompleter
from gfc_scenes.datasets import photo_split

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def detail(image: np.ndarray, hole: np.ndarray) -> float:
    """Summed detail energy (σ = 2 px) of ``image`` (H×W×3 in [0, 1]) over the hole."""
    energy = detail_energy(torch.from_numpy(image).permute(2, 0, 1)[None].float(), 2.0)[0, 0].numpy()
    return float(energy[hole].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="gfc_scenes_128")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    photos = sorted(p for p in (DATA / "nonface" / "bsds500" / "images").rglob("*.jpg") if photo_split(p, 0.1) != "train")
    masks = sorted(glob.glob(str(DATA / "masks" / "irregular" / "0[4-7]???.png")))
    rng = np.random.default_rng(args.seed)
    pipeline = PhotoCompleter(ModelCompleter.pretrained(args.model), blender=Paste(), crop="hole", refiner=NoRefiner())
    scores: dict[str, list[tuple[float, float]]] = {}
    for path in photos:
        photo = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        drawn = cv2.resize(cv2.imread(masks[rng.integers(len(masks))], 0), photo.shape[1::-1],
                           interpolation=cv2.INTER_NEAREST)
        hole = drawn > 127 if (drawn > 127).mean() >= 0.05 else drawn <= 127
        truth = photo.astype(np.float32) / 255
        fills = {"model": pipeline(photo, hole).astype(np.float32) / 255}
        for name, flag in (("telea", cv2.INPAINT_TELEA), ("navier_stokes", cv2.INPAINT_NS)):
            fills[name] = cv2.inpaint(photo, hole.astype(np.uint8), 5, flag).astype(np.float32) / 255
        depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)  # px to the nearest known pixel
        for width in (8, 16):  # the classical fill at the rim, fading into the model's over `width` px
            weight = np.clip(depth / width, 0, 1)[..., None]
            fills[f"rim{width}"] = weight * fills["model"] + (1 - weight) * fills["navier_stokes"]
        for base in ("model", "rim16"):
            for band, strength in ((2, 1.0), (2, 2.0), (4, 1.0), (8, 1.0)):
                context = np.where(hole[..., None], fills[base], truth)
                fills[f"{base}+residual:band={band},strength={strength}"] = ResidualRefiner(
                    band=band, strength=strength)(context, fills[base], hole, 1.0)
        real = detail(truth, hole)
        for name, fill in fills.items():
            scores.setdefault(name, []).append((float(np.abs(fill - truth)[hole].mean()), detail(fill, hole) / real))
    print(f"{len(photos)} held-out BSDS500 photos, NVIDIA masks 20-40 %, model {args.model}")
    print("| fill | hole L1 | detail ratio |\n|---|---:|---:|")
    for name, values in scores.items():
        l1, ratio = np.mean(values, axis=0)
        print(f"| {name} | {l1:.4f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
