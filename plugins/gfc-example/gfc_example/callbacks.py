"""A training logger as a plugin: every logged number, one CSV row each, in ``<run>/losses.csv``.

It is a callback (kind ``callback``) implementing the lifecycle hooks that gfc-kit's own metrics
log uses, so nothing in gfc-kit knows about it; it runs by default, and a recipe turns it off with
``callbacks: {csv_log: false}`` while the plugin's components stay. The long format (one number a
row) needs no columns fixed ahead.
"""

from __future__ import annotations

import csv
from typing import ClassVar

import gfc_kit

CSV_FILE = "losses.csv"


HEADER = "stage,step,global_step,name,value\n"


class CsvLog:
    """Every logged number, one CSV row each, in ``<run>/losses.csv``."""

    enabled_by_default: ClassVar[bool] = True

    @gfc_kit.hookimpl
    def gfc_stage_start(self, run, stage, index):
        """Start the file, or (on ``--resume``) drop the rows after the point the run continues
        from, as gfc-kit does with metrics.jsonl, since those steps are logged again."""
        path = run.output / CSV_FILE
        stage_index, step = run.position
        now = sum(s.steps for s in run.recipe.stages[:stage_index]) + step
        rows = path.read_text().splitlines()[1:] if path.is_file() else []
        path.write_text(HEADER + "".join(f"{r}\n" for r in rows if int(r.split(",")[2]) <= now))

    @gfc_kit.hookimpl
    def gfc_row_logged(self, run, row):
        with (run.output / CSV_FILE).open("a", newline="") as f:
            writer = csv.writer(f)
            for name, value in row.items():
                if isinstance(value, float):
                    writer.writerow([row["stage"], row["step"], row["global_step"], name, f"{value:.6g}"])
