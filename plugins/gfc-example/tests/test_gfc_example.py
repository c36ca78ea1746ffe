"""The example plugin: its components, and gfc-kit finding it through its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gfc_kit
from gfc_kit import plugins

PLUGIN = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PLUGIN))

from gfc_example import plugin  # noqa: E402
from gfc_example.patterns import Patterns  # noqa: E402
from gfc_example.ring import Ring  # noqa: E402


def test_ring_is_a_deterministic_annulus():
    batch = {"image": torch.zeros(4, 3, 64, 64)}
    mask = Ring()(batch, torch.Generator().manual_seed(0))
    assert mask.shape == (4, 1, 64, 64) and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(mask, Ring()(batch, torch.Generator().manual_seed(0)))
    assert 0 < mask.mean() < 0.5


def test_patterns_are_deterministic_images_in_range():
    dataset = Patterns(image_size=32, length=5)
    item = dataset[3]
    assert item["image"].shape == (3, 32, 32) and -1 <= item["image"].min() <= item["image"].max() <= 1
    assert torch.equal(item["image"], Patterns(image_size=32, length=5)[3]["image"])
    with pytest.raises(IndexError):
        dataset[5]


def test_registered_components_work_from_a_recipe(tmp_path):
    plugins.reset()
    plugins.register(plugin, "gfc_example")
    try:
        from gfc_kit import recipe

        loaded = recipe.load("quickstart", ["masks.train={type: ring, radius: [0.1, 0.2]}",
                                            "data.train={type: patterns, length: 4}"])
        assert loaded.masks.train.params["radius"] == (0.1, 0.2)
        assert isinstance(gfc_kit.create("dataset", "patterns", length=2), Patterns)
    finally:
        plugins.reset()


def test_pip_installed_plugin_shows_up_in_gfc_kit_plugins(tmp_path):
    """Install the distribution for real (no network: no deps, no build isolation) and let gfc-kit
    discover it through its ``gfc_kit`` entry point in a fresh process."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PLUGIN)], check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "GFC_KIT_DISABLE_PLUGINS"}
    env.update(PYTHONPATH=str(target), GFC_KIT_PLUGINS="gfc_example")

    def gfc(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gfc_kit", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    listing = gfc("plugins", "--kind", "mask_sampler")
    assert listing.returncode == 0, listing.stderr
    assert "ring  (gfc-example 0.1.0)" in listing.stdout
    recipe = tmp_path / "ring.yaml"
    from gfc_kit.recipe import find

    recipe.write_text(f"base: {find('gfc_cvpr17')}\nname: ring\nmasks: {{train: {{type: ring}}}}\n")
    check = gfc("recipe", "check", str(recipe))
    assert check.returncode == 0, check.stderr


def test_composite_tv_is_zero_on_a_flat_composite_and_counts_the_seam():
    from types import SimpleNamespace

    from gfc_example.losses import CompositeTV

    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    flat = SimpleNamespace(composite=torch.zeros(1, 3, 16, 16), mask=mask)
    assert float(CompositeTV()(flat)) == 0
    seam = torch.zeros(1, 3, 16, 16)
    seam[..., 4:12, 4:12] = 1  # a filled square brighter than its surroundings: 4 edges of 8 pixels, 3 channels
    assert float(CompositeTV(band=1)(SimpleNamespace(composite=seam, mask=mask))) == 4 * 8 * 3
    far = torch.zeros(1, 3, 16, 16)
    far[..., 0, :] = 1  # an edge far from the hole does not count
    assert float(CompositeTV()(SimpleNamespace(composite=far, mask=mask))) == 0


def test_hole_context_sees_the_hole_and_its_surroundings():
    from gfc_example.discriminators import HoleContext, PatchDiscriminator

    image = torch.arange(32.0).repeat(1, 3, 32, 1)  # each column holds its x
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 12:20, 12:20] = 1  # 8×8 hole: the context is 16×16 around it
    seen = HoleContext(scale=2.0, size=16)(image, mask, None)
    assert seen.shape == (1, 3, 16, 16)
    assert torch.equal(seen[0, 0, 0], torch.arange(8.0, 24.0))
    assert PatchDiscriminator(width=4)(seen).shape == (1,)


def test_rings_command_writes_masks(tmp_path):
    import click
    from click.testing import CliRunner

    from gfc_example import commands

    group = click.Group()
    commands.register(group)
    result = CliRunner().invoke(group, ["example", "rings", "--count", "3", "--size", "32", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    masks = sorted(tmp_path.glob("ring_*.png"))
    assert len(masks) == 3
    assert all(0 < (np.asarray(Image.open(m)) > 127).mean() < 0.5 for m in masks)


def test_the_shipped_example_model_completes_patterns(tmp_path):
    """The plugin's model folder is found by name; completing its own kind of image changes only the hole."""
    plugins.reset()
    plugins.register(plugin, "gfc_example")
    try:
        from gfc_kit import ModelCompleter

        completer = ModelCompleter.pretrained("example_patterns")
        image = Patterns(image_size=32, length=2, seed=5)[1]["image"][None]
        mask = Ring()({"image": image}, torch.Generator().manual_seed(3))
        done = completer(image, mask)
        assert torch.equal(done[mask.expand_as(done) == 0], image[mask.expand_as(image) == 0])
        hole = mask.expand_as(image) > 0
        assert (done[hole] - image[hole]).abs().mean() < (image[hole] - image[~hole].mean()).abs().mean()
    finally:
        plugins.reset()


def test_its_recipe_trains_with_every_extension_and_logs_a_csv(tmp_path):
    """The plugin's own recipe (third discriminator on hole_context, composite_tv), two steps a
    stage: the CSV logger writes losses.csv beside gfc-kit's metrics.jsonl."""
    plugins.reset()
    plugins.register(plugin, "gfc_example")
    try:
        from gfc_kit import recipe
        from gfc_kit.training.smoke import smoke_test
        from gfc_kit.training.trainer import Trainer

        loaded = recipe.load(PLUGIN / "recipes" / "example_patterns.yaml")
        smoke, out = smoke_test(loaded, tmp_path / "run")
        Trainer(smoke, out).run()
        rows = (out / "losses.csv").read_text().splitlines()
        assert rows[0] == "stage,step,global_step,name,value"
        assert any(row.startswith("adversarial,2,4,context_adversarial,") for row in rows)
        assert any(row.startswith("adversarial,2,4,seam,") for row in rows)
    finally:
        plugins.reset()


def test_its_finetune_stage_and_early_stopping_run_from_its_recipe(tmp_path):
    """example_finetune.yaml: the finetune stage trains the decoder only (the encoder's weights stay
    the shipped model's), early_stopping (configured in the recipe) ends the run with its export
    and report, and csv_log, turned off there, writes nothing while the plugin's components work."""
    plugins.reset()
    plugins.register(plugin, "gfc_example")
    try:
        from safetensors.torch import load_file

        from gfc_kit import recipe
        from gfc_kit.training.trainer import Trainer

        loaded = recipe.load(PLUGIN / "recipes" / "example_finetune.yaml", [
            "stages.0.steps=12", "train.batch_size=4", "train.sample_every=1", "train.report_images=4",
            "callbacks.early_stopping.patience=1", "callbacks.early_stopping.min_delta=1.0"])
        out = Trainer(loaded, tmp_path / "run").run()
        shipped = load_file(str(PLUGIN / "gfc_example" / "models" / "example_patterns" / "generator.safetensors"))
        tuned = load_file(str(out / "generator.safetensors"))
        assert all(torch.equal(tuned[k], shipped[k].float()) for k in tuned if k.startswith("encoder."))
        assert any(not torch.equal(tuned[k], shipped[k].float()) for k in tuned if k.startswith("decoder."))
        rows = [line for line in (out / "metrics.jsonl").read_text().splitlines() if '"val"' in line]
        assert len(rows) == 2  # min_delta 1.0: the second validation is no improvement, patience 1
        assert (out / "report.md").is_file() and not (out / "losses.csv").exists()
    finally:
        plugins.reset()


def test_the_finetune_stage_names_a_part_the_generator_lacks_before_training(tmp_path):
    plugins.reset()
    plugins.register(plugin, "gfc_example")
    try:
        from gfc_kit import recipe
        from gfc_kit.training.trainer import Trainer

        loaded = recipe.load(PLUGIN / "recipes" / "example_finetune.yaml", ["stages.0.train.frozen=[encoderr]"])
        with pytest.raises(gfc_kit.GfcError, match=r"^stages\.0\.train: the generator has no part 'encoderr'"):
            Trainer(loaded, tmp_path / "run")
    finally:
        plugins.reset()
