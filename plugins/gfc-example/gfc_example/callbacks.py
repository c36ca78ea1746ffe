"""A training logger as a plugin: every logged number, one CSV row each, in ``<run>/losses.csv``.

It implements the lifecycle hook that gfc-kit's own metrics log uses (``gfc_row_logged``), so
nothing in gfc-kit knows about it; the long format (one number a row) needs no columns fixed ahead.
"""

from __future__ import annotations

import csv

import gfc_kit

CSV_FILE = "losses.csv"


HEADER = "stage,step,global_step,name,value\n"


@gfc_kit.hookimpl
def gfc_stage_start(run, stage, index):
    """Start the file, or (on ``--resume``) drop the rows after the point the run continues from,
    as gfc-kit does with metrics.jsonl, since those steps are logged again."""
    path = run.output / CSV_FILE
    stage_index, step = run.position
    now = sum(s.steps for s in run.recipe.stages[:stage_index]) + step
    rows = path.read_text().splitlines()[1:] if path.is_file() else []
    path.write_text(HEADER + "".join(f"{r}\n" for r in rows if int(r.split(",")[2]) <= now))


@gfc_kit.hookimpl
def gfc_row_logged(run, row):
    with (run.output / CSV_FILE).open("a", newline="") as f:
        writer = csv.writer(f)
        for name, value in row.items():
            if isinstance(value, float):
                writer.writerow([row["stage"], row["step"], row["global_step"], name, f"{value:.6g}"])
