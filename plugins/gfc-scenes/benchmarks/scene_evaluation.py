"""The scene model against Telea, Navier-Stokes, mean fill and the face model on held-out scene
photos, under LaMa's thin, medium and thick masks, with a paired bootstrap 95 % interval on each
difference in hole L1 (docs/evaluation.md). From the repository root, with gfc-scenes installed:

    python plugins/gfc-scenes/benchmarks/scene_evaluation.py --output reports/scenes

It writes one fixed mask set per preset (``gfc-kit masks write``, the photos the recipe's
``split: train`` never has, i.e. scene_folder's val and test splits, 128-px crops, seed 0), runs ``gfc-kit evaluate`` on each, then scores the held-out BSDS500 photos
at their own size (481×321) under NVIDIA's irregular masks of 20–40 % with ``--full-resolution
--crop hole``, and prints the table. A report folder that already exists is reused, so the table
can be recomputed without completing again.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

PHOTOS = ["../shared/data/nonface/bsds500/images", "../shared/data/nonface/intel_scenes/images"]
PRESETS = ("thin", "medium", "thick")
IRREGULAR = "{type: mask_folder, root: ../shared/data/masks/irregular, pattern: '0[4-7]???.png'}"
"""NVIDIA's masks of 20–40 % hole (bins 2 and 3 of the file index)."""


def gfc(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "gfc_kit", *args], check=True)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired images and its 95 % percentile bootstrap interval."""
    difference = a - b
    rng = np.random.default_rng(seed)
    means = difference[rng.integers(0, len(difference), (resamples, len(difference)))].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(difference.mean()), float(low), float(high)


def per_image(report: Path, metric: str) -> dict[str, np.ndarray]:
    """Completer → the metric per image, in image order, from a report's ``per_image.csv``."""
    values: dict[str, dict[int, float]] = defaultdict(dict)
    with (report / "per_image.csv").open() as file:
        for row in csv.DictReader(file):
            values[row["completer"]][int(row["index"])] = float(row[metric])
    return {name: np.array([v[i] for i in sorted(v)]) for name, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--photos", nargs="+", default=PHOTOS)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--model", default="gfc_scenes_128", help="the model the differences are taken against")
    parser.add_argument("--others", default="gfc_celeba_128", help="other models, comma-separated")
    parser.add_argument("--metric", default="l1_hole")
    args = parser.parse_args()
    models = [args.model, *filter(None, args.others.split(","))]
    table = []
    for preset in PRESETS:
        masks, report = args.output / "sets" / preset, args.output / preset
        if not masks.is_dir():
            inputs = [x for p in args.photos for x in ("--input", p)]
            gfc("masks", "write", *inputs, "--output", str(masks), "--preset", preset, "--size", str(args.size),
                "--split", "held_out", "--seed", "0")
        if not (report / "per_image.csv").is_file():
            gfc("evaluate", *[x for m in models for x in ("--model", m)], "--data", f"mask_set:{masks}",
                "--masks", "mask_set", "--image-size", str(args.size), "--parser", "none", "--no-size-study",
                "--limit", "100000", "--output", str(report))
        scores = per_image(report, args.metric)
        for other in (n for n in scores if n != args.model):
            mean, low, high = paired_bootstrap(scores[args.model], scores[other])
            table.append((preset, other, len(scores[other]), scores[args.model].mean(), scores[other].mean(), mean, low, high))
    held_out = args.output / "bsds500_held_out"  # the held-out BSDS500 photos, linked at their own size
    if not held_out.is_dir():
        from gfc_scenes.datasets import photo_split

        held_out.mkdir(parents=True)
        for photo in sorted(Path(args.photos[0]).glob("*.jpg")):
            if photo_split(photo, 0.1) in ("val", "test"):
                (held_out / photo.name).symlink_to(photo.resolve())
    report = args.output / "bsds500_full"
    if not (report / "per_image.csv").is_file():
        gfc("evaluate", *[x for m in models for x in ("--model", m)], "--data", str(held_out), "--full-resolution",
            "--crop", "hole", "--masks", IRREGULAR, "--output", str(report))
    scores = per_image(report, args.metric)
    for other in (n for n in scores if n != args.model):
        mean, low, high = paired_bootstrap(scores[args.model], scores[other])
        table.append(("irregular 20-40 %, own size", other, len(scores[other]), scores[args.model].mean(),
                      scores[other].mean(), mean, low, high))
    print(f"| masks | against | crops | {args.model} | other | difference (95 % CI) |")
    print("|---|---|---:|---:|---:|---|")
    for preset, other, n, ours, theirs, mean, low, high in table:
        verdict = "better" if high < 0 else "worse" if low > 0 else "no clear difference"
        print(f"| {preset} | {other} | {n} | {ours:.4f} | {theirs:.4f} | {mean:+.4f} ({low:+.4f} … {high:+.4f}): {verdict} |")
    print("\nmean detail ratio in the hole (detail_hole):")
    for name in (*PRESETS, "bsds500_full"):
        detail = per_image(args.output / name, "detail_hole")
        print(f"  {name}: " + ", ".join(f"{c} {v.mean():.2f}" for c, v in detail.items()))


if __name__ == "__main__":
    main()
