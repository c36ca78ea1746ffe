"""``gfc-kit run --smoke``: the whole recipe for two steps a stage on batches of two (Lightning's
``fast_dev_run``), to try a recipe end to end in seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

from gfc_kit.outputs import output_folder
from gfc_kit.recipe import Recipe

SMOKE_MARK = ".smoke"


def smoke_test(recipe: Recipe, output: Path | None) -> tuple[Recipe, Path]:
    """``recipe`` cut to a smoke run, and its folder: ``<output>-smoke`` unless ``output`` is
    given; a previous smoke run there is replaced."""
    stages = [s.model_copy(update={"steps": min(s.steps, 2)}) for s in recipe.stages]
    train = recipe.train.model_copy(update={"batch_size": 2, "num_workers": 0, "log_every": 1, "sample_every": 2,
                                            "checkpoint_every": 2,
                                            "report_images": min(recipe.train.report_images, 4)})
    smoke = recipe.model_copy(update={"stages": stages, "train": train})
    if output is None:
        output = recipe.output_dir.with_name(recipe.output_dir.name + "-smoke")
        if (output / SMOKE_MARK).is_file():
            shutil.rmtree(output)
    output_folder(output)
    (output / SMOKE_MARK).write_text("a --smoke run; replaced by the next one\n")
    return smoke, output
