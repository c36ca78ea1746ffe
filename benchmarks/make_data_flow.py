"""The data-flow picture in docs/architecture.md: a plain SVG of boxes and arrows, no external
resources, written from the coordinates below.

    python benchmarks/make_data_flow.py [--output docs/images/data_flow.svg]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 900, 836
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"

# fill, stroke
GREY = ("#f4f5f7", "#6b7280")
BLUE = ("#e9f0fd", "#3a6bd0")
AMBER = ("#fff6e5", "#c08400")
WHITE = ("#ffffff", "#c08400")
GREEN = ("#eaf6ee", "#2e8a4c")
PURPLE = ("#f3eefb", "#7651c2")
TEAL = ("#e7f5f6", "#2a8790")

parts: list[str] = []


def box(x: float, y: float, w: float, h: float, colour: tuple[str, str], title: str,
        lines: tuple[str, ...] | list[str] = (), size: float = 12, title_size: float = 13, align: str = "middle",
        radius: float = 6) -> None:
    """A rounded box with a bold first line and plain lines under it."""
    fill, stroke = colour
    parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{radius}" fill="{fill}" '
                 f'stroke="{stroke}" stroke-width="1.4"/>')
    tx = x + w / 2 if align == "middle" else x + 12
    anchor = "middle" if align == "middle" else "start"
    ty = y + 8 + title_size
    parts.append(f'<text x="{tx}" y="{ty}" text-anchor="{anchor}" font-size="{title_size}" '
                 f'font-weight="bold">{escape(title)}</text>')
    for i, line in enumerate(lines):
        parts.append(f'<text x="{tx}" y="{ty + 6 + (i + 1) * (size + 3)}" text-anchor="{anchor}" '
                     f'font-size="{size}">{escape(line)}</text>')


def text(x: float, y: float, words: str, size: float = 12, anchor: str = "start", bold: bool = False,
         colour: str = "#222") -> None:
    weight = ' font-weight="bold"' if bold else ""
    parts.append(f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="{size}" fill="{colour}"{weight}>'
                 f'{escape(words)}</text>')


def arrow(*points: tuple[float, float], label: str = "", at: tuple[float, float] | None = None,
          anchor: str = "start", dashed: bool = False) -> None:
    """A line through ``points`` with a head at the last one; ``label`` written at ``at``."""
    path = " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(points))
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    parts.append(f'<path d="{path}" fill="none" stroke="#444" stroke-width="1.5"{dash} marker-end="url(#head)"/>')
    if label and at:
        text(*at, label, size=11, anchor=anchor, colour="#444")


def picture() -> str:
    text(20, 28, "gfc-kit data flow: from a recipe to completed photos", size=16, bold=True)

    # --- the recipe, built and checked
    box(20, 50, 150, 96, GREY, "recipe.yaml", ["base:, --set", "stages[].train", "callbacks:"])
    box(200, 50, 200, 96, BLUE, "load + check", ["gfc_kit/recipe/", "every entry against", "its factory; what",
                                                  "the stages need"])
    box(430, 50, 240, 96, BLUE, "assemble → RunParts", ["training/parts.py: datasets,", "mask samplers, networks,",
                                                        "judges (views), loss terms,", "optimisers, stage objects"])
    box(700, 50, 180, 96, BLUE, "checks", ["training/checks.py:", "one real item through", "the networks; each",
                                           "stage's check()"])
    arrow((170, 98), (198, 98))
    arrow((400, 98), (428, 98))
    arrow((670, 98), (698, 98))
    arrow((790, 146), (790, 178))

    # --- the trainer loop over the stage objects
    parts.append(f'<rect x="20" y="180" width="860" height="190" rx="8" fill="{AMBER[0]}" stroke="{AMBER[1]}" '
                 f'stroke-width="1.6"/>')
    text(34, 204, "Trainer loop (training/trainer.py)", size=14, bold=True)
    text(866, 204, "shown: a step of the generator stage", size=11, anchor="end", colour="#555")
    text(34, 222, "each recipe stage's stage object (kind stage: generator, parser or a plugin's): "
                  "enter(), then step() per batch")
    chain = [("batch", ["(seed, step)", "StepBatches"]),
             ("mask sampler", ["holes", "N×1×H×W"]),
             ("generator", ["hole filled", "(hole_fill)"]),
             ("composite", ["output in hole,", "image outside"]),
             ("judges", ["discriminators", "through views;", "parser"]),
             ("loss terms", ["routed by", "declared inputs"]),
             ("optimisers", ["D step,", "then G step"])]
    w, gap, x0, y0 = 106, 16, 31, 236
    for i, (title, lines) in enumerate(chain):
        x = x0 + i * (w + gap)
        box(x, y0, w, 78, WHITE, title, lines, size=11, title_size=12, radius=4)
        if i:
            arrow((x - gap, y0 + 38), (x - 1, y0 + 38))
    text(34, 334, "and around each step: learning rates · loss rows every log_every · validation rows "
                  "(the stage's validate) · checkpoints · hooks")
    text(34, 352, "a non-finite loss stops before its update · a callback's stop ends the run after "
                  "the step (every process: Runtime.any)")

    # --- hooks and callbacks; the run folder
    arrow((150, 370), (150, 418), label="hooks, with the Run", at=(158, 398))
    arrow((400, 418), (400, 372), label="run.stop(reason)", at=(408, 398))
    box(20, 420, 410, 146, GREEN, "lifecycle hooks → callbacks", [
        "metrics_log → metrics.jsonl",
        "sample_grids → samples/",
        "progress → a bar, or log lines",
        "plugins' callbacks (csv_log, early_stopping, …)",
        "and module-level hook functions",
        "callbacks: {NAME: false} or GFC_KIT_BLOCK=NAME",
        "turns one off"], align="start")
    arrow((675, 370), (675, 418), label="checkpoints, export, report", at=(683, 398))
    arrow((430, 493), (468, 493))
    box(470, 420, 410, 146, PURPLE, "run folder (runs/NAME/)", [
        "recipe.yaml · metrics.jsonl · samples/",
        "checkpoints/, last.json (\"stopped\": reason)",
        "export: model.json + generator.safetensors",
        "(+ parser.safetensors when trained)",
        "report.md: masks.eval on data.val"], align="start")

    # --- the model folder and what reads it
    arrow((675, 566), (675, 584), (560, 584), (560, 604))
    box(250, 606, 400, 74, PURPLE, "model folder", ["model.json + generator.safetensors:",
                                                    "a finished run, gfc-kit export, shipped, a plugin's"])
    arrow((330, 680), (330, 700), (115, 700), (115, 722))
    arrow((570, 680), (570, 700), (795, 700), (795, 722))
    box(20, 724, 190, 92, TEAL, "ModelCompleter", ["tensors or photos in,", "composites out;",
                                                   "from_run, pretrained"])
    box(240, 724, 260, 92, TEAL, "PhotoCompleter", ["aligner or crop → each face", "at the model's size → warp",
                                                    "back → refiner → blender", "(gfc-kit complete)"])
    box(530, 724, 160, 92, TEAL, "gfc-kit serve", ["brush a hole on a", "photo in a browser"])
    box(720, 724, 160, 92, TEAL, "ONNX export", ["gfc-kit export", "--format onnx"])
    arrow((210, 770), (238, 770))
    arrow((500, 770), (528, 770))

    head = ('<marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker>')
    body = "\n  ".join(parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{escape(FONT)}" fill="#222">\n'
            f'  <title>gfc-kit data flow</title>\n  <defs>{head}</defs>\n'
            f'  <rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>\n  {body}\n</svg>\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images" / "data_flow.svg")
    args = parser.parse_args()
    args.output.write_text(picture())
    print(args.output)


if __name__ == "__main__":
    main()
