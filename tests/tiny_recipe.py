"""The tiny recipe the trainer, completion and evaluation tests share.

It is the paper's (``base:`` the built-in gfc_cvpr17) at 32×32 on synthetic faces, with every
network narrowed to an eighth, so a full four-stage run takes about a second.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from gfc_kit import recipe as recipes


def write_recipe(folder: Path, steps: int = 2, **train: int) -> Path:
    """The tiny recipe, ``steps`` steps a stage, into ``folder/tiny.yaml``; ``train`` overrides
    its ``train`` section (log, sample and checkpoint every 1 step by default)."""
    settings = {"batch_size": 2, "num_workers": 0, "log_every": 1, "sample_every": 2, "checkpoint_every": 1, **train}
    path = folder / "tiny.yaml"
    path.write_text(textwrap.dedent(f"""\
        base: {recipes.find("gfc_cvpr17").resolve()}
        name: tiny
        image_size: 32
        data:
          train: {{type: synthetic_faces, length: 64, seed: 0}}
          val: {{type: synthetic_faces, length: 8, seed: 1}}
          parsing: {{type: synthetic_faces, length: 64, seed: 2}}
        masks:
          train: {{type: random_square, size: 16}}
        model:
          generator: {{width: 0.125, bottleneck: 64}}
          discriminators:
            local: {{patch_size: 16, width: 0.125}}
            global: {{width: 0.125}}
          parser: {{width: 0.125}}
        stages:
          - {{name: parser, train: parser, steps: {steps}}}
          - {{name: reconstruction, steps: {steps}, losses: [reconstruction]}}
          - {{name: local, steps: {steps}, losses: [reconstruction, local_adversarial]}}
          - {{name: global, steps: {steps}, losses: [reconstruction, local_adversarial, global_adversarial, parsing]}}
        train: {json.dumps(settings)}
        """))
    return path
