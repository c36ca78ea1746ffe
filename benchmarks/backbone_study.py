"""The backbone study: the paper's generator and timm / smp generators, each trained on the same
faces and holes (recipes/backbone_study.yaml) for the same CPU time here, then scored on held-out
people with ``gfc-kit evaluate``: hole L1 and PSNR per mask, training images/s, inference ms per
face, parameters and file size.

    python benchmarks/backbone_study.py --minutes 12 --output runs/backbone_study

Each backbone's step time is measured first (a few steps on one fixed batch, nothing else
running), and its step count set so that its training takes ``--minutes``; the training runs
then go one after another. Writes ``OUTPUT/study.md`` (the table) and ``OUTPUT/study.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "backbone_study.yaml"
DATA = ROOT.parent / "shared" / "data"
HELD_OUT = (f"{{type: celeba, root: {DATA / 'faces' / 'celeba'}, split: test, "
            f"identity_file: {DATA / 'annotations' / 'identity_CelebA.txt'}}}")
MASKS = "O1,O2,O3,O4,O5,O6,center,free_form"

BACKBONES = {
    "gfc (paper)": "{type: gfc_generator, width: 0.5, bottleneck: 1024}",
    "timm resnet18": "{type: timm_generator, encoder: resnet18}",
    "timm mobilenetv3_large_100": "{type: timm_generator, encoder: mobilenetv3_large_100}",
    "smp Unet efficientnet-b0": "{type: smp_generator, arch: Unet, encoder: efficientnet-b0}",
}


def seconds_per_step(generator: str, repeats: int = 5) -> float:
    """One reconstruction step of this generator at batch 16, timed on a fixed batch."""
    import torch
    from torch.utils.data import default_collate

    from gfc_kit import recipe as recipes
    from gfc_kit.factory import create
    from gfc_kit.training.batches import step_generator
    from gfc_kit.training.parts import assemble
    from gfc_kit.training.runtime import start as runtime

    recipe = recipes.load(RECIPE, [f"model.generator={generator}"])
    parts = assemble(recipe, runtime(recipe.train.device, recipe.train.precision))
    faces = create("dataset", "synthetic_faces", image_size=recipe.image_size, length=recipe.train.batch_size)
    batch = default_collate([faces[i] for i in range(len(faces))])
    spec, stage = recipe.stages[0], parts.stages[0]
    stage.enter(parts, spec)
    for i in range(2):
        stage.step(parts, spec, batch, step_generator(0, i))
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        stage.step(parts, spec, batch, step_generator(0, i))
        times.append(time.perf_counter() - start)
    del torch
    return sorted(times)[len(times) // 2]


def inference_ms(run: Path, repeats: int = 20) -> float:
    """Milliseconds to complete one 128×128 face (batch 1), median of ``repeats``."""
    import torch

    from gfc_kit.inference import ModelCompleter

    completer = ModelCompleter.from_run(run)
    image, mask = torch.rand(1, 3, 128, 128) * 2 - 1, torch.zeros(1, 1, 128, 128)
    mask[..., 40:90, 30:100] = 1
    for _ in range(3):
        completer(image, mask)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        completer(image, mask)
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def gfc(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "gfc_kit", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="training time per backbone")
    parser.add_argument("--limit", type=int, default=200, help="held-out faces to score")
    parser.add_argument("--only", nargs="*", help="some of the backbones, by name")
    parser.add_argument("--output", type=Path, default=ROOT / "runs" / "backbone_study")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"error: {DATA}: the faces are not there")
    chosen = {k: v for k, v in BACKBONES.items() if not args.only or k in args.only}
    results_file = args.output / "study.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    steps = {}
    for name, generator in chosen.items():  # all timed first, while nothing else runs
        step = seconds_per_step(generator)
        steps[name] = max(50, int(args.minutes * 60 / (step * 1.1)))  # 10 % for data, logging, validation
        print(f"{name}: {step:.3f} s/step -> {steps[name]} steps", flush=True)
    for name, generator in chosen.items():
        folder = args.output / name.replace(" ", "_").replace("(", "").replace(")", "")
        start = time.perf_counter()
        gfc("run", str(RECIPE), "--set", f"model.generator={generator}", "--set", f"stages.0.steps={steps[name]}",
            "--output", str(folder))
        train_s = time.perf_counter() - start
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        rate = [r["images_per_s"] for r in rows if "images_per_s" in r]
        gfc("evaluate", "--run", str(folder), "--data", HELD_OUT, "--image-size", "128", "--limit", str(args.limit),
            "--masks", MASKS, "--completers", "none", "--no-size-study", "--output", str(folder / "evaluation"))
        with open(folder / "evaluation" / "summary.csv") as f:
            scores = {r["mask"]: {"l1": float(r["l1_hole"]), "psnr": float(r["psnr_hole"])} for r in csv.DictReader(f)}
        import torch
        from safetensors.torch import load_file

        weights = load_file(str(folder / "generator.safetensors"))
        results[name] = {
            "generator": generator, "steps": steps[name], "train_s": round(train_s, 1),
            "images_per_s": round(sum(rate[1:]) / max(1, len(rate) - 1), 1) if len(rate) > 1 else None,
            "inference_ms": round(inference_ms(folder), 1),
            "params_m": round(sum(t.numel() for t in weights.values()) / 1e6, 2),
            "fp16_mib": round(sum(t.numel() * 2 for t in weights.values() if t.is_floating_point()) / 2**20, 1),
            "scores": scores,
        }
        del torch
        results_file.write_text(json.dumps(results, indent=1))
        print(f"{name}: done", flush=True)
    write_table(results, args.output / "study.md", args)


def write_table(results: dict, path: Path, args: argparse.Namespace) -> None:
    masks = MASKS.split(",")
    lines = [(f"Each trained for about {args.minutes:g} minutes here (reconstruction stage, batch 16, 128×128), "
              f"scored on {args.limit} held-out faces."), "",
             "| backbone | steps | train img/s | infer ms/face | params (M) | fp16 MiB | "
             + " | ".join(f"{m} L1 / PSNR" for m in masks) + " | mean L1 | mean PSNR |",
             "|---|---:|---:|---:|---:|---:|" + "---:|" * (len(masks) + 2)]
    for name, r in results.items():
        cells = [f"{r['scores'][m]['l1']:.4f} / {r['scores'][m]['psnr']:.2f}" for m in masks]
        mean_l1 = sum(r["scores"][m]["l1"] for m in masks) / len(masks)
        mean_psnr = sum(r["scores"][m]["psnr"] for m in masks) / len(masks)
        lines.append(f"| {name} | {r['steps']} | {r['images_per_s']} | {r['inference_ms']} | {r['params_m']} | "
                     f"{r['fp16_mib']} | " + " | ".join(cells) + f" | {mean_l1:.4f} | {mean_psnr:.2f} |")
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
