"""How far dlib's five points fall from CelebA's own annotated landmarks, on the CelebA aligned
photos that have annotations in ../shared/data (ids 1–330, 178×218 pixels).

The shipped models' layout (``CELEBA_CROP``) is CelebA's annotated mean; the ``dlib`` aligner maps
its 68 points onto the same five (eye centres, nose tip, mouth corners). A systematic offset here
would shift every aligned face, so it is measured rather than assumed:

    python plugins/gfc-align/benchmarks/landmarks.py [--landmarks 68]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

from gfc_kit import create
from gfc_kit.face_layout import CELEBA_CROP, POINT_NAMES

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landmarks", type=int, choices=(5, 68), default=68)
    args = parser.parse_args()
    table = DATA / "annotations" / "list_landmarks_align_celeba_000001-000330.csv"
    if not table.is_file():
        raise SystemExit(f"error: {table}: the research data is not there")
    aligner = create("aligner", "dlib", landmarks=args.landmarks)
    offsets, missed = [], []
    with open(table) as rows:
        for row in csv.DictReader(rows):
            photo = DATA / "faces" / "celeba" / row["image_id"]
            if not photo.is_file():
                continue
            annotated = np.array([float(v) for k, v in row.items() if k != "image_id"]).reshape(5, 2)
            faces = aligner(np.asarray(Image.open(photo).convert("RGB")), CELEBA_CROP)
            if not faces:
                missed.append(photo.name)
                continue
            offsets.append(faces[0].landmarks - annotated)
    offsets = np.array(offsets)
    print(f"{len(offsets)} photos ({len(missed)} without a face found: {' '.join(missed)}); "
          f"dlib {args.landmarks}-point minus CelebA's annotation, pixels at 178×218:")
    print("| point | mean distance | mean dx | mean dy |\n|---|---:|---:|---:|")
    for i, name in enumerate(POINT_NAMES):
        if np.isnan(offsets[:, i]).all():
            continue
        print(f"| {name} | {np.linalg.norm(offsets[:, i], axis=1).mean():.2f} | {offsets[:, i, 0].mean():+.2f} | "
              f"{offsets[:, i, 1].mean():+.2f} |")


if __name__ == "__main__":
    main()
