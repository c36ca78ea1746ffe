"""Where the time goes when one large photo is completed with ``--align dlib``: each step of
``gfc-kit complete`` timed on its own, in one process.

    python plugins/gfc-align/benchmarks/big_photo.py PHOTO MASK [--model gfc_celeba_cpu]
"""

from __future__ import annotations

import time

start = time.perf_counter()

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from gfc_kit import create  # noqa: E402
from gfc_kit.inference import ModelCompleter, PhotoCompleter  # noqa: E402
from gfc_kit.inference.photos import read_mask, read_photo, write_photo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("mask", type=Path)
    parser.add_argument("--model", default="gfc_celeba_cpu")
    parser.add_argument("--output", type=Path, default=Path("big_photo_completed.png"))
    args = parser.parse_args()
    times = {"import gfc-kit and torch": time.perf_counter() - start}

    def step(name: str, work):
        began = time.perf_counter()
        value = work()
        times[name] = time.perf_counter() - began
        return value

    model = step("load the model", lambda: ModelCompleter.pretrained(args.model))
    aligner = create("aligner", "dlib")
    step("load the shape predictor", lambda: aligner(np.zeros((64, 64, 3), np.uint8), model.layout))
    photo = step("read the photo", lambda: read_photo(args.photo))
    hole = read_mask(args.mask, photo.shape[:2])
    faces = step("find the faces", lambda: aligner(photo, model.layout))
    completer = PhotoCompleter(model, aligner=lambda _photo, _layout: faces)
    done = step("complete (view, model, back, poisson)", lambda: completer(photo, hole, name=str(args.photo)))
    step("write the PNG", lambda: write_photo(args.output, done))
    print(f"{photo.shape[1]}×{photo.shape[0]} photo, {len(faces)} face(s), the largest's square "
          f"{faces[0].side:.0f} px" if faces else "no face found")
    for name, seconds in times.items():
        print(f"{name}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
