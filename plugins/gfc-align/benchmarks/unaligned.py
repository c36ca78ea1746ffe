"""Unaligned faces, measured: does ``--align dlib`` give back the aligned quality?

Each held-out CelebA face (split by person, as the shipped model's card does) is placed in a larger
photo with a known random similarity transform (rotation up to ±30°, face 140–350 px wide, a
random position on a non-face background), and the paper's O1–O6 holes go through the same
transform. The model then completes

  (a) the aligned original (the paper's crop of the 178×218 image),
  (b) the unaligned photo with ``--align dlib``,
  (c) the unaligned photo without alignment (the model sees the whole, square, photo),

and hole L1 and PSNR are scored against the true pixels of each. For (b) every blender is also
scored on the seam: L1 and gradient error in a band 2 px either side of the hole's edge.

    python plugins/gfc-align/benchmarks/unaligned.py --output /tmp/unaligned

writes ``report.md``, ``unaligned.png`` (a chart, no faces) and, for looking at, ``panels/``.
The faces are research data: do not commit the panels.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from gfc_kit import create
from gfc_kit.components.blenders import distance_to_hole
from gfc_kit.components.masks.boxes import O_BOXES
from gfc_kit.face_layout import CROP_BOX
from gfc_kit.inference import ModelCompleter, PhotoCompleter
from gfc_kit.interfaces import Face

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"
REGIONS = tuple(O_BOXES)
BLENDERS = ("paste", "feather", "poisson")


class Remembered:
    """An aligner that runs once per photo and remembers, so several blenders share one detection."""

    def __init__(self, aligner) -> None:
        self.aligner, self.faces, self.seconds = aligner, None, 0.0

    def __call__(self, photo: np.ndarray, layout) -> list[Face]:
        if self.faces is None:
            start = time.perf_counter()
            self.faces = self.aligner(photo, layout)
            self.seconds = time.perf_counter() - start
        return self.faces


@dataclass
class Placement:
    matrix: np.ndarray  # 2×3, source photo px → canvas px
    canvas: int
    angle: float
    face: float


def place(rng: np.random.Generator) -> Placement:
    """A random similarity: the 138-px crop square becomes ``face`` px wide, turned by ``angle``."""
    face = rng.uniform(140, 350)
    angle = rng.uniform(-30, 30)
    scale = face / (CROP_BOX[2] - CROP_BOX[0])
    canvas = int(round(face * 2.4))
    centre_src = np.array([(CROP_BOX[0] + CROP_BOX[2]) / 2, (CROP_BOX[1] + CROP_BOX[3]) / 2]) - 0.5
    centre = rng.uniform(0.75 * face, canvas - 0.75 * face, 2)
    rotation = cv2.getRotationMatrix2D(tuple(centre_src), angle, scale)
    rotation[:, 2] += centre - centre_src
    return Placement(rotation, canvas, angle, face)


def region_polygon(region: str) -> np.ndarray:
    """The O-box's corners in source (178×218) pixel coordinates."""
    x0, y0, x1, y1 = O_BOXES[region]
    side = CROP_BOX[2] - CROP_BOX[0]
    box = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    return np.array([[CROP_BOX[0] + u * side - 0.5, CROP_BOX[1] + v * side - 0.5] for u, v in box])


def fill_polygon(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    hole = np.zeros(shape, np.uint8)
    cv2.fillPoly(hole, [np.round(points * 16).astype(np.int32)], 1, shift=4)
    return hole.astype(bool)


def scores(done: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    diff = (done.astype(np.float64) - truth.astype(np.float64)) / 255
    mse = float((diff[hole] ** 2).mean())
    return {"l1": float(np.abs(diff[hole]).mean()), "psnr": float(10 * np.log10(1 / max(mse, 1e-12)))}


def seam(done: np.ndarray, truth: np.ndarray, hole: np.ndarray, width: int = 2) -> dict[str, float]:
    """L1 and gradient L1 in the band ``width`` px either side of the hole's edge."""
    band = (distance_to_hole(hole) <= width) & (distance_to_hole(~hole) <= width)
    diff = np.abs(done.astype(np.float64) - truth.astype(np.float64)) / 255

    def gradients(image: np.ndarray) -> np.ndarray:
        image = image.astype(np.float32) / 255
        return np.abs(cv2.Sobel(image, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(image, cv2.CV_32F, 0, 1))

    grad = np.abs(gradients(done) - gradients(truth))
    return {"seam_l1": float(diff[band].mean()), "seam_grad": float(grad[band].mean())}


def held_out_faces(limit: int) -> list[Path]:
    dataset = create("dataset", "celeba", root=DATA / "faces" / "celeba", split="test",
                     identity_file=DATA / "annotations" / "identity_CelebA.txt", image_size=64)
    return list(dataset.files)[:limit]


def backgrounds() -> list[Path]:
    return sorted((DATA / "nonface" / "bsds500" / "images").glob("*.jpg"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="gfc_celeba_cpu")
    parser.add_argument("--limit", type=int, default=100, help="held-out faces")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--align", default="dlib")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--rows", type=Path, help="only rewrite the report from a run's rows.json")
    args = parser.parse_args()
    if args.rows is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        write_report(json.loads(args.rows.read_text()), args, float("nan"))
        return
    if not DATA.is_dir():
        raise SystemExit(f"error: {DATA}: the research data is not there")

    rng = np.random.default_rng(args.seed)
    model = ModelCompleter.pretrained(args.model)
    aligner = create("aligner", args.align)
    blenders = {name: create("blender", name) for name in BLENDERS}
    pictures = backgrounds()
    panels = args.output / "panels"
    panels.mkdir(parents=True, exist_ok=True)
    rows, missed, detect_seconds = [], 0, []
    for index, path in enumerate(held_out_faces(args.limit)):
        source = np.asarray(Image.open(path).convert("RGB"))
        spot = place(rng)
        size = (spot.canvas, spot.canvas)
        with Image.open(pictures[rng.integers(len(pictures))]) as opened:
            canvas = np.asarray(opened.convert("RGB").resize(size, Image.BICUBIC)).copy()
        warped = cv2.warpAffine(source, spot.matrix, size, flags=cv2.INTER_CUBIC)
        inside = cv2.warpAffine(np.ones(source.shape[:2], np.uint8), spot.matrix, size, flags=cv2.INTER_NEAREST) > 0
        canvas[inside] = warped[inside]
        remembered = Remembered(aligner)
        aligned = {name: PhotoCompleter(model, blender, remembered) for name, blender in blenders.items()}
        plain = PhotoCompleter(model, blenders["paste"], crop="center")
        original = PhotoCompleter(model, blenders["paste"], crop="celeba")
        for region in REGIONS:
            polygon = region_polygon(region)
            hole_src = fill_polygon(polygon, source.shape[:2])
            moved = cv2.transform(polygon[None], spot.matrix)[0]
            hole = fill_polygon(moved, canvas.shape[:2])
            row = {"face": path.name, "region": region, "angle": spot.angle, "face_px": spot.face}
            row.update({f"a_{k}": v for k, v in scores(original(source, hole_src), source, hole_src).items()})
            done_c = plain(canvas, hole)
            row.update({f"c_{k}": v for k, v in scores(done_c, canvas, hole).items()})
            found = True
            for name, completer in aligned.items():
                try:
                    done_b = completer(canvas, hole, name=path.name)
                except Exception as exc:  # no face found, or the hole not on the face found
                    found, done_b = False, done_c
                    row["b_error"] = str(exc)
                row.update({f"b_{name}_{k}": v for k, v in scores(done_b, canvas, hole).items()})
                row.update({f"b_{name}_{k}": v for k, v in seam(done_b, canvas, hole).items()})
                if name == "poisson" and index < 8 and region in ("O3", "O6"):
                    strip = np.concatenate([canvas, np.where(hole[..., None], 255, canvas).astype(np.uint8),
                                            done_c, done_b], 1)
                    Image.fromarray(strip).save(panels / f"{index:02d}_{region}.jpg", quality=90)
            row["found"] = found
            missed += not found
            rows.append(row)
        detect_seconds.append(remembered.seconds)
        print(f"{index + 1} faces, {spot.face:.0f} px at {spot.angle:+.0f}°: found={rows[-1]['found']}", flush=True)
    (args.output / "rows.json").write_text(json.dumps(rows, indent=1))
    write_report(rows, args, float(np.mean(detect_seconds)))


def write_report(rows: list[dict], args: argparse.Namespace, detect_seconds: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def mean(key: str, region: str | None = None) -> float:
        return float(np.mean([r[key] for r in rows if region in (None, r["region"])]))

    lines = [f"Held-out faces: {len(rows) // len(REGIONS)} (CelebA test split by person), seed {args.seed}, "
             f"model {args.model}; faces found by `--align {args.align}`: "
             f"{sum(r['found'] for r in rows) // len(REGIONS)} of {len(rows) // len(REGIONS)} photos; "
             f"detection {detect_seconds:.2f} s per photo on average.", "",
             "| region | hole L1 (a) aligned | (b) `--align dlib` | (c) no alignment | PSNR (a) | (b) | (c) | (b) / (a) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for region in (*REGIONS, None):
        a, b, c = mean("a_l1", region), mean("b_paste_l1", region), mean("c_l1", region)
        lines.append(f"| {region or '**all**'} | {a:.4f} | {b:.4f} | {c:.4f} | {mean('a_psnr', region):.2f} | "
                     f"{mean('b_paste_psnr', region):.2f} | {mean('c_psnr', region):.2f} | {b / a:.3f} |")
    lines += ["", "| blender (b) | hole L1 | hole PSNR | seam L1 (±2 px) | seam gradient error |", "|---|---:|---:|---:|---:|"]
    for name in BLENDERS:
        lines.append(f"| {name} | {mean(f'b_{name}_l1'):.4f} | {mean(f'b_{name}_psnr'):.2f} | "
                     f"{mean(f'b_{name}_seam_l1'):.4f} | {mean(f'b_{name}_seam_grad'):.4f} |")
    (args.output / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    x = np.arange(len(REGIONS))
    figure, axis = plt.subplots(figsize=(7, 3.2))
    for shift, (key, label) in zip((-0.27, 0, 0.27), (("a_l1", "(a) aligned original"),
                                                      ("b_paste_l1", "(b) unaligned, --align dlib"),
                                                      ("c_l1", "(c) unaligned, no alignment"))):
        axis.bar(x + shift, [mean(key, r) for r in REGIONS], 0.27, label=label)
    axis.set_xticks(x, REGIONS)
    axis.set_ylabel("hole L1 (lower is better)")
    axis.set_title(f"{args.model} on {len(rows) // len(REGIONS)} held-out faces, rotated ±30°, 140–350 px")
    axis.set_ylim(0, max(mean("c_l1", r) for r in REGIONS) * 1.3)
    axis.legend(fontsize=8, ncol=3, loc="upper center")
    figure.tight_layout()
    figure.savefig(args.output / "unaligned.png", dpi=110)


if __name__ == "__main__":
    main()
