"""The example plugin: its components, and gfc-kit finding it through its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

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
