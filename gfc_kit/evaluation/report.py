"""The evaluation report: ``report.md`` with the tables, CSV files, the mask-size plot and an
example grid per mask type, all in one folder and linked from the report."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import torch

from gfc_kit.evaluation.evaluator import Examples
from gfc_kit.imaging import save_grid

LOWER_IS_BETTER = {"l1", "l1_hole", "lpips", "lpips_hole", "fid"}
CLOSEST_TO_ONE = {"detail_hole"}
"""Ratios to the truth: the best is the one nearest 1 (a blur is below, noise above)."""
COLUMNS = ("psnr", "psnr_hole", "ssim", "ssim_hole", "l1_hole", "detail_hole", "parse_acc", "parse_miou")
"""Preferred column order; other metrics follow."""


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """Rows of dicts as a CSV file (columns from the first row)."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def metric_columns(summary: list[dict[str, Any]]) -> list[str]:
    present = [k for k in summary[0] if k not in ("mask", "completer", "images", "hole_fraction")]
    return [c for c in COLUMNS if c in present] + [c for c in present if c not in COLUMNS]


def markdown_table(summary: list[dict[str, Any]], group: str = "mask", label: str = "completer") -> str:
    """One table, ``label`` rows side by side within each ``group`` row group; the best value of
    each metric in a group is bold (↑ higher is better, ↓ lower)."""
    columns = metric_columns(summary)
    arrows = [f"{c} {_direction(c)}" for c in columns]
    lines = [f"| {group} | {label} | hole % | " + " | ".join(arrows) + " |",
             "|---|---|---:|" + "---:|" * len(columns)]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in summary:
        groups.setdefault(row[group], []).append(row)
    for name, members in groups.items():
        best = {}
        for c in columns:
            values = [m[c] for m in members if not math.isnan(m[c])]
            if values:
                best[c] = (min(values, key=lambda v: abs(math.log(max(v, 1e-12)))) if c in CLOSEST_TO_ONE
                           else min(values) if c in LOWER_IS_BETTER else max(values))
        for i, m in enumerate(members):
            cells = [_cell(m[c], best.get(c)) for c in columns]
            lines.append(f"| {name if i == 0 else ''} | {m[label]} | {100 * m['hole_fraction']:.1f} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def _direction(column: str) -> str:
    return "→1" if column in CLOSEST_TO_ONE else "↓" if column in LOWER_IS_BETTER else "↑"


def _cell(value: float, best: float | None) -> str:
    if math.isnan(value):
        return "–"
    text = f"{value:.2f}" if abs(value) >= 10 else f"{value:.4f}"
    return f"**{text}**" if value == best else text


def example_grid(examples: Examples, path: Path) -> Path:
    """Rows: masked input (hole in white), each completer, ground truth."""
    rows = [torch.stack(examples.masked)] + [torch.stack(v) for v in examples.completed.values()]
    labels = ["masked input", *examples.completed, "ground truth"]
    return save_grid(rows + [torch.stack(examples.target)], path, labels=labels)


def size_plot(summary: list[dict[str, Any]], path: Path, metrics: tuple[str, ...] = ("psnr_hole", "ssim")) -> Path:
    """Quality against hole size (the paper's Fig. 9), one line per completer and panel per metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = tuple(m for m in metrics if m in summary[0])
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    completers = list(dict.fromkeys(r["completer"] for r in summary))
    for ax, metric in zip(axes[0], metrics):
        for name in completers:
            points = sorted((100 * r["hole_fraction"], r[metric]) for r in summary if r["completer"] == name)
            ax.plot(*zip(*points), marker="o", label=name)
        ax.set_xlabel("hole area (% of the image)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    fig.suptitle("Quality against hole size (centred square holes)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(output: Path, title: str, config: dict[str, Any], rows: list[dict[str, Any]],
                 summary: list[dict[str, Any]], examples: dict[str, Examples],
                 size_summary: list[dict[str, Any]] | None, notes: list[str]) -> Path:
    """Write every file of the report into ``output``; return ``report.md``."""
    output.mkdir(parents=True, exist_ok=True)
    write_csv(rows, output / "per_image.csv")
    write_csv(summary, output / "summary.csv")
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {v}" for k, v in config.items()]
    lines += ["", "Metrics on pixel values in [0, 1]; `_hole` = over the hole's pixels only. PSNR in dB. "
              "`parse_acc` / `parse_miou`: the parser's labels on the completion against the reference "
              "labels, on the hole. Files: [summary.csv](summary.csv), [per_image.csv](per_image.csv).", ""]
    lines += [markdown_table(summary), ""]
    if size_summary:
        write_csv(size_summary, output / "mask_size.csv")
        size_plot(size_summary, output / "mask_size.png")
        lines += ["## Quality against hole size", "", "![mask size](mask_size.png)", "",
                  "Data: [mask_size.csv](mask_size.csv).", ""]
    lines += ["## Examples", "", "Rows: masked input (hole in white), "
              + ", ".join(next(iter(examples.values())).completed) + ", ground truth.", ""]
    for name, shown in examples.items():
        grid = example_grid(shown, output / f"examples_{name}.png")
        lines += [f"### {name}", "", f"![{name}]({grid.name})", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    report = output / "report.md"
    report.write_text("\n".join(lines))
    return report
