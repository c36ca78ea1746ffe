"""The open core, end to end: a plugin written outside the repository and pip-installed extends
every part that used to need an edit of gfc_kit, with no edit of gfc_kit, in a fresh process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from gfc_kit import recipe as recipes

PLUGIN = '''
"""gfc-outside: one of each extension point."""
from pathlib import Path

import click
import torch
import torch.nn.functional as F

import gfc_kit
from gfc_kit.training.stages import GeneratorStage


class LoggedRate(GeneratorStage):
    """The generator stage, logging the learning rate beside its losses."""

    def step(self, parts, stage, batch, rng):
        values = super().step(parts, stage, batch, rng)
        values["lr"] = torch.tensor(parts.optimizers[self.trains].param_groups[0]["lr"])
        return values


class StopAt:
    """Stops the run at the first validation row at or after ``global_step``."""

    def __init__(self, global_step: int = 1) -> None:
        self.global_step = global_step

    @gfc_kit.hookimpl
    def gfc_row_logged(self, run, row):
        if row.get("split") == "val" and row["global_step"] >= self.global_step:
            run.stop(f"stop_at: reached step {row['global_step']}")


class ColourConsistency:
    """Each composite's mean colour against its image's (a loss on the composite)."""

    inputs = "step"

    def __init__(self, power: float = 1.0) -> None:
        self.power = power

    def __call__(self, context):
        gap = (context.composite.mean((2, 3)) - context.image.mean((2, 3))).abs() ** self.power
        return gap.sum(1).mean()


class TopHalf:
    """The upper half of the image (the eyes of an aligned face), resized to the discriminator's side."""

    def __call__(self, images, mask, side):
        top = images[..., : images.shape[-2] // 2, :]
        return F.interpolate(top, size=(side, side), mode="bilinear", align_corners=False)


def top_half() -> TopHalf:
    """The upper half of the image."""
    return TopHalf()


@gfc_kit.hookimpl
def gfc_register(registry):
    registry.add("loss", "colour_consistency", ColourConsistency)
    registry.add("view", "top_half", top_half)
    registry.add("stage", "logged_rate", LoggedRate)
    registry.add("callback", "stop_at", StopAt)
    registry.add_model("outside_tiny", Path(__file__).parent / "models" / "outside_tiny")


@gfc_kit.hookimpl
def gfc_register_commands(cli):
    @cli.command(name="outside-hello")
    def hello():
        """Say how many components gfc-kit has."""
        click.echo(f"hello: {len(gfc_kit.list_components())} components")


def _note(run, text):
    with (run.output / "outside.log").open("a") as f:
        f.write(text + "\\n")


@gfc_kit.hookimpl
def gfc_stage_start(run, stage, index):
    _note(run, f"start {stage.name}")


@gfc_kit.hookimpl
def gfc_stage_end(run, stage, index):
    _note(run, f"end {stage.name}")


@gfc_kit.hookimpl
def gfc_checkpoint_saved(run, path):
    _note(run, f"checkpoint {path.name}")


@gfc_kit.hookimpl
def gfc_report_written(folder, run):
    _note(run, f"report {folder}")
'''

PYPROJECT = '''
[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "gfc-outside"
version = "0.2.0"
dependencies = ["gfc-kit"]

[project.entry-points.gfc_kit]
gfc_outside = "gfc_outside.plugin"

[tool.hatch.build.targets.wheel]
packages = ["gfc_outside"]
'''


def write_plugin(root: Path, model_from: Path) -> Path:
    package = root / "gfc_outside"
    (package / "models" / "outside_tiny").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(PLUGIN)
    for name in ("model.json", "generator.safetensors"):
        shutil.copy(model_from / name, package / "models" / "outside_tiny" / name)
    return root


def test_an_installed_plugin_extends_losses_discriminators_callbacks_commands_and_models(tmp_path, tiny_run):
    source = write_plugin(tmp_path / "gfc-outside", tiny_run)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "GFC_KIT_DISABLE_PLUGINS"}
    env.update(PYTHONPATH=str(site), GFC_KIT_PLUGINS="gfc_outside", OMP_NUM_THREADS="1")

    def gfc(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "gfc_kit", *args], env=env, capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    assert gfc("outside-hello").stdout.startswith("hello: ")
    assert "outside-hello" in gfc("--help").stdout

    recipe = tmp_path / "outside.yaml"
    recipe.write_text(textwrap.dedent(f"""\
        base: {recipes.find("gfc_cvpr17").resolve()}
        name: outside
        image_size: 32
        data:
          train: {{type: synthetic_faces, length: 16}}
          val: {{type: synthetic_faces, length: 4, seed: 1}}
        masks: {{train: {{type: random_square, size: 16}}}}
        model:
          generator: {{width: 0.125, bottleneck: 32}}
          discriminators:
            local: {{patch_size: 16, width: 0.125}}
            global: {{width: 0.125}}
            eyes: {{type: gfc_local_discriminator, patch_size: 16, width: 0.125, view: top_half}}
          parser: null
        losses:
          colour: {{type: colour_consistency, weight: 1.0}}
          eyes_adversarial: {{type: bce_adversarial, discriminator: eyes, weight: 10.0}}
        stages:
          - {{name: all, steps: 2, losses: [reconstruction, local_adversarial, global_adversarial, colour,
                                           eyes_adversarial]}}
        train: {{batch_size: 2, num_workers: 0, log_every: 1, sample_every: 2, checkpoint_every: 2,
                 report_images: 2}}
        output: {tmp_path / "run"}
        """))
    gfc("run", str(recipe))
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["colour"]) and np.isfinite(r["eyes_adversarial"]) for r in rows if "total" in r)
    log = (tmp_path / "run" / "outside.log").read_text().splitlines()
    assert log[0] == "start all" and "checkpoint checkpoint-00000002.safetensors" in log and "end all" in log
    assert log[-1] == f"report {tmp_path / 'run'}"

    assert "outside_tiny" in gfc("models").stdout and "from gfc-outside 0.2.0" in gfc("models").stdout
    photo = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(photo)
    gfc("complete", "--model", "outside_tiny", "--input", str(photo), "--box", "10,10,12,12", "--blend", "paste",
        "--output", str(tmp_path / "out"))
    done = np.asarray(Image.open(tmp_path / "out" / "face.png"))
    original = np.asarray(Image.open(photo))
    assert done.shape == original.shape and (done != original).any()
    outside = np.ones(original.shape[:2], bool)
    outside[10:22, 10:22] = False
    assert (done[outside] == original[outside]).all()

    # The plugin's stage and a callback configured from the recipe stop a run early: the run still
    # ends with its checkpoint, export and report, the stopping row logged; --resume trains no more.
    stopping = tmp_path / "stopping.yaml"
    stopping.write_text(textwrap.dedent(f"""\
        base: {recipe}
        output: {tmp_path / 'stopped'}
        stages:
          - {{name: first, train: logged_rate, steps: 4, losses: [reconstruction]}}
          - {{name: second, steps: 4, losses: [reconstruction]}}
        callbacks:
          stop_at: {{global_step: 3}}
        """))
    gfc("run", str(stopping), "--set", "train.sample_every=1")
    run = tmp_path / "stopped"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1] == {**rows[-1], "split": "val", "stage": "first", "global_step": 3}
    assert max(r["global_step"] for r in rows) == 3 and all("lr" in r for r in rows if "total" in r)
    assert (run / "generator.safetensors").is_file() and (run / "model.json").is_file()
    assert (run / "report.md").is_file()
    assert json.loads((run / "checkpoints" / "last.json").read_text())["stopped"] == "stop_at: reached step 3"
    gfc("run", str(stopping), "--set", "train.sample_every=1", "--resume")
    assert len((run / "metrics.jsonl").read_text().splitlines()) == len(rows)
    bad = subprocess.run([sys.executable, "-m", "gfc_kit", "recipe", "check", str(stopping), "--set",
                          "callbacks.stop_at.global_stepp=3"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "callbacks.stop_at.global_stepp: unknown key" in bad.stderr
