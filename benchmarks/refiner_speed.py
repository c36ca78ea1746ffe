"""What refinement costs: a photo completed with ``--refine none`` and with ``residual``, its time
and peak memory, for a 1024×1024 and a 4000×3000 photo with a square hole of 10 % of the photo,
through the fixed centre crop (a face model's path) and the hole-centred crop (``--crop hole``).
Each case runs in a fresh process, so its peak resident memory is its own.

    python benchmarks/refiner_speed.py            # the table of docs/performance.md

The photo is synthetic (smooth colours plus fine grain, seeded), so nothing is read from disk.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

from gfc_kit.inference.fastest import cpu_flags

CASES = [((1024, 1024), "center"), ((1024, 1024), "hole"), ((4000, 3000), "center"), ((4000, 3000), "hole")]


def one(width: int, height: int, crop: str, refine: str, repeats: int) -> dict:
    """Complete the photo ``repeats`` times after one warm-up; the median time and the process's peak RSS."""
    import numpy as np

    from gfc_kit import create
    from gfc_kit.commands.bench import peak_rss_mb, timed
    from gfc_kit.inference import ModelCompleter, PhotoCompleter

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([0.5 + 0.3 * np.sin(x / 300 + c) * np.cos(y / 200 - c) for c in range(3)], -1)
    photo = np.clip((base + rng.normal(0, 0.04, base.shape).astype(np.float32)) * 255, 0, 255).astype(np.uint8)
    side = int((0.1 * width * height) ** 0.5)
    hole = np.zeros((height, width), bool)
    top, left = (height - side) // 2, (width - side) // 2
    hole[top:top + side, left:left + side] = True
    photos = PhotoCompleter(ModelCompleter.pretrained(), create("blender", "poisson"), crop=crop,
                            refiner=create("refiner", refine))
    seconds = timed(lambda: photos(photo, hole), repeats, warmup=1)
    return {"photo": f"{width}×{height}", "crop": crop, "refine": refine, "seconds": seconds,
            "peak_gib": peak_rss_mb() / 1024, "hole_px": int(hole.sum())}


def cpu() -> str:
    """The CPU's model name, cores and the flags that decide fast paths."""
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    flags = cpu_flags() or set()
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {os.cpu_count()} cores, flags: {' '.join(wanted) or 'none of avx2/avx512/amx'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        width, height, crop, refine = args.one
        print(json.dumps(one(int(width), int(height), crop, refine, args.repeats)))
        return
    print(f"CPU: {cpu()}")
    print("| photo | crop | refine none (s) | residual (s) | refinement (s) | peak none (GiB) | peak residual (GiB) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (width, height), crop in CASES:
        runs = {}
        for refine in ("none", "residual"):
            out = subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats), "--one", str(width),
                                  str(height), crop, refine], capture_output=True, text=True, check=True)
            runs[refine] = json.loads(out.stdout.strip().splitlines()[-1])
        none, res = runs["none"], runs["residual"]
        print(f"| {width}×{height} | {crop} | {none['seconds']:.2f} | {res['seconds']:.2f} | "
              f"{res['seconds'] - none['seconds']:.2f} | {none['peak_gib']:.2f} | {res['peak_gib']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
