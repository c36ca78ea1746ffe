"""A training logger as a plugin: every logged number, one CSV row each, in ``<run>/losses.csv``.

It implements the lifecycle hook that gfc-kit's own metrics log uses (``gfc_row_logged``), so
nothing in gfc-kit knows about it; the long format (one number a row) needs no columns fixed ahead.
"""

from __future__ import annotations

import csv

import gfc_kit

CSV_FILE = "losses.csv"


@gfc_kit.hookimpl
def gfc_stage_start(run, stage, index):
    path = run.output / CSV_FILE
    if not path.is_file():
        path.write_text("stage,step,global_step,name,value\n")


@gfc_kit.hookimpl
def gfc_row_logged(run, row):
    with (run.output / CSV_FILE).open("a", newline="") as f:
        writer = csv.writer(f)
        for name, value in row.items():
            if isinstance(value, float):
                writer.writerow([row["stage"], row["step"], row["global_step"], name, f"{value:.6g}"])
