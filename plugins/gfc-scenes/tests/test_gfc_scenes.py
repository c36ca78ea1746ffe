"""gfc-scenes: LaMa's masks, the fixed mask sets, the scene datasets (on fake trees with the real
layouts), a recipe with no face anywhere, and the shipped scene model on a large photo."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gfc_kit import plugins
from gfc_kit.errors import DataError, GfcError

PLUGIN = Path(__file__).resolve().parents[1]
REPO = PLUGIN.parents[1]
NONFACE = REPO.parent / "shared" / "data" / "nonface"
sys.path.insert(0, str(PLUGIN))

from gfc_scenes import plugin  # noqa: E402
from gfc_scenes.datasets import DTD, MaskSet, ParisStreetView, Places365, SceneFolder, photo_split  # noqa: E402
from gfc_scenes.lama_masks import PRESETS, LamaMasks  # noqa: E402
from gfc_scenes.mask_set import MANIFEST, write_mask_set  # noqa: E402

SCENE_MODEL = PLUGIN / "gfc_scenes" / "models" / "gfc_scenes_128"


@pytest.fixture
def with_plugin():
    """gfc-kit with this plugin registered (and no other installed plugin)."""
    plugins.reset()
    plugins.register(plugin, "gfc_scenes")
    yield
    plugins.reset()


def photos(folder: Path, count: int, size: tuple[int, int] = (96, 64), seed: int = 0) -> list[Path]:
    """Smooth random colour photos (a few blurred blobs), some in a sub-folder."""
    rng = np.random.default_rng(seed)
    written = []
    for i in range(count):
        small = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
        path = folder / ("sub" if i % 3 == 0 else ".") / f"photo_{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=95)
        written.append(path)
    return written


# --- LaMa's masks -----------------------------------------------------------------------------------

def test_presets_are_lamas_configurations():
    thin, boxes = PRESETS[("thin", 256)]
    assert (thin.min_times, thin.max_times, thin.max_width, thin.max_len, thin.max_angle) == (4, 50, 10, 40, 4)
    assert boxes is None
    thick, boxes = PRESETS[("thick", 512)]
    assert (thick.min_times, thick.max_times, thick.max_width, thick.max_len) == (1, 5, 250, 450)
    assert (boxes.margin, boxes.bbox_min_size, boxes.bbox_max_size, boxes.min_times, boxes.max_times) == (10, 30, 300, 1, 4)


# hole-area percentiles (10th, 50th, 90th) of 300 masks a set draws at 256x256 with seed 0: the
# figures docs/evaluation.md gives
AREAS = {"thin": (0.093, 0.284, 0.448), "medium": (0.038, 0.255, 0.365), "thick": (0.083, 0.255, 0.431)}


@pytest.mark.parametrize("preset", ["thin", "medium", "thick"])
def test_lama_masks_are_seeded_and_their_areas_pinned(preset):
    sampler = LamaMasks(preset)
    batch = {"image": torch.zeros(300, 3, 256, 256)}
    masks = sampler(batch, torch.Generator().manual_seed(0))
    assert masks.shape == (300, 1, 256, 256) and set(masks.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(masks[:5], sampler({"image": torch.zeros(5, 3, 256, 256)}, torch.Generator().manual_seed(0)))
    area = masks.flatten(1).mean(1)
    assert (area > 0).all() and (area <= 0.5).all()  # LaMa's max_tamper_area
    percentiles = [round(float(v), 3) for v in area.quantile(torch.tensor([0.1, 0.5, 0.9]))]
    assert percentiles == pytest.approx(AREAS[preset], abs=0.0015)


def test_thin_strokes_are_thinner_than_thick_ones():
    import cv2

    widths = {}
    for preset in ("thin", "thick"):
        masks = LamaMasks(preset)({"image": torch.zeros(20, 3, 256, 256)}, torch.Generator().manual_seed(1))
        # twice the mean distance to the nearest known pixel ~ the stroke width
        holes = [m[0].numpy().astype(np.uint8) for m in masks]
        widths[preset] = np.mean([2 * cv2.distanceTransform(h, cv2.DIST_L2, 5)[h > 0].mean() for h in holes])
    assert widths["thin"] * 3 < widths["thick"]


def test_masks_scale_with_the_image():
    sampler = LamaMasks("thick")
    small = sampler({"image": torch.zeros(200, 3, 128, 128)}, torch.Generator().manual_seed(0)).mean()
    large = sampler({"image": torch.zeros(200, 3, 256, 256)}, torch.Generator().manual_seed(0)).mean()
    assert abs(float(small) - float(large)) < 0.03  # the same fraction of the image, not the same pixels


# --- gfc-kit masks write ------------------------------------------------------------------------------

def write_cli(*args: str):
    import click

    from gfc_scenes import commands

    group = click.Group()
    commands.register(group)
    return CliRunner().invoke(group, ["masks", "write", *args])


def test_masks_write_gives_byte_identical_sets_for_one_seed(tmp_path):
    photos(tmp_path / "in", 6, (120, 80))
    runs = []
    for name in ("a", "b"):
        result = write_cli("--input", str(tmp_path / "in"), "--output", str(tmp_path / name), "--preset", "medium",
                           "--size", "64", "--seed", "3")
        assert result.exit_code == 0, result.output
        runs.append({p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*") if p.is_file()})
    assert runs[0] == runs[1]
    names = sorted(str(n) for n in runs[0])
    assert "sub/photo_000_crop000.png" in names and "sub/photo_000_crop000_mask000.png" in names
    assert MANIFEST in names and "mask_set.json" in names
    for line in (tmp_path / "a" / MANIFEST).read_text().splitlines():  # sha256sum -c format
        digest, name = line.split("  ")
        assert hashlib.sha256((tmp_path / "a" / name).read_bytes()).hexdigest() == digest
    crop = Image.open(tmp_path / "a" / "photo_001_crop000.png")
    mask = np.asarray(Image.open(tmp_path / "a" / "photo_001_crop000_mask000.png"))
    assert crop.size == (64, 64) and crop.mode == "RGB" and mask.shape == (64, 64)
    assert set(np.unique(mask)) <= {0, 255} and 0 < (mask == 255).mean() <= 0.5
    other = write_cli("--input", str(tmp_path / "in"), "--output", str(tmp_path / "c"), "--preset", "medium",
                      "--size", "64", "--seed", "4")
    assert other.exit_code == 0 and (tmp_path / "c" / MANIFEST).read_bytes() != (tmp_path / "a" / MANIFEST).read_bytes()


def test_a_photos_crop_and_mask_do_not_depend_on_the_other_photos(tmp_path):
    photos(tmp_path / "in", 6)
    write_mask_set(tmp_path / "in", tmp_path / "all", "thick", size=48)
    write_mask_set(tmp_path / "in", tmp_path / "one", "thick", size=48, limit=2)
    for name in ("photo_001_crop000.png", "photo_001_crop000_mask000.png"):
        assert (tmp_path / "all" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def test_masks_write_split_and_bad_output(tmp_path):
    files = photos(tmp_path / "in", 30)
    write_mask_set(tmp_path / "in", tmp_path / "test", "thin", size=32, split="test", held_out=0.2)
    written = {p.name.removesuffix("_crop000.png") for p in (tmp_path / "test").rglob("*_crop000.png")}
    assert written == {f.stem for f in files if photo_split(f, 0.2) == "test"} and written
    write_mask_set(tmp_path / "in", tmp_path / "held_out", "thin", size=32, split="held_out", held_out=0.2)
    held_out = {p.name.removesuffix("_crop000.png") for p in (tmp_path / "held_out").rglob("*_crop000.png")}
    assert held_out == {f.stem for f in files if photo_split(f, 0.2) != "train"} and held_out > written
    with pytest.raises(GfcError, match="not an empty folder"):
        write_mask_set(tmp_path / "in", tmp_path / "test", "thin", size=32)
    result = write_cli("--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x"), "--preset", "thin")
    assert result.exit_code != 0


def test_mask_set_dataset_checks_the_manifest(tmp_path, with_plugin):
    photos(tmp_path / "in", 4)
    write_mask_set(tmp_path / "in", tmp_path / "set", "thick", size=64)
    dataset = MaskSet(tmp_path / "set", image_size=32)
    item = dataset[0]
    assert item["image"].shape == (3, 32, 32) and item["mask"].shape == (1, 32, 32) and 0 < item["mask"].mean() <= 0.6
    from gfc_kit import create

    given = create("mask_sampler", "mask_set")
    assert torch.equal(given({"image": item["image"][None], "mask": item["mask"][None]}), item["mask"][None])
    with pytest.raises(DataError, match="mask_set:SET"):
        given({"image": item["image"][None]})
    mask = next((tmp_path / "set").rglob("*_mask000.png"))
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(mask)
    with pytest.raises(DataError, match="changed since the set was written"):
        MaskSet(tmp_path / "set")


def test_evaluate_scores_a_mask_set(tmp_path, with_plugin):
    """``gfc-kit evaluate --data mask_set:SET --masks mask_set``: every completer on the set's own holes."""
    from gfc_kit.commands.cli import cli

    photos(tmp_path / "in", 4)
    write_mask_set(tmp_path / "in", tmp_path / "set", "medium", size=64)
    result = CliRunner().invoke(cli, ["evaluate", "--data", f"mask_set:{tmp_path / 'set'}", "--masks", "mask_set",
                                      "--completers", "telea,mean_fill", "--image-size", "64", "--no-size-study",
                                      "--parser", "none", "--output", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "report" / "per_image.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 4 and "parse" not in rows[0]


# --- datasets -------------------------------------------------------------------------------------------

def test_scene_folder_splits_by_photo_and_crops(tmp_path):
    files = photos(tmp_path, 40, (90, 60))
    splits = {s: {Path(p).stem for p in SceneFolder(tmp_path, 32, split=s).files} for s in ("train", "val", "test")}
    assert set.union(*splits.values()) == {f.stem for f in files}
    assert not splits["train"] & splits["test"] and not splits["val"] & splits["test"]
    centre = SceneFolder(tmp_path, 32, crop="center")
    assert centre.face_layout is None
    assert torch.equal(centre[0]["image"], centre[0]["image"]) and centre[0]["image"].shape == (3, 32, 32)
    random = SceneFolder(tmp_path, 32, crop="random", scale=(0.3, 0.6))
    torch.manual_seed(0)
    first, second = random[1]["image"], random[1]["image"]
    assert first.shape == (3, 32, 32) and not torch.equal(first, second)
    with pytest.raises(DataError, match="no such folder"):
        SceneFolder(tmp_path / "missing")


def fake_places(root: Path) -> None:
    (root / "data_256" / "a" / "airfield").mkdir(parents=True)
    (root / "val_256").mkdir()
    photos(root / "tmp", 3, (64, 64))
    for i, path in enumerate(sorted((root / "tmp").rglob("*.jpg"))):
        path.rename(root / "data_256" / "a" / "airfield" / f"0000000{i + 1}.jpg")
    photos(root / "tmp2", 2, (64, 64))
    for i, path in enumerate(sorted((root / "tmp2").rglob("*.jpg"))):
        path.rename(root / "val_256" / f"Places365_val_0000000{i + 1}.jpg")
    (root / "places365_train_standard.txt").write_text(
        "".join(f"/a/airfield/0000000{i + 1}.jpg 0\n" for i in range(3)))
    (root / "places365_val.txt").write_text("".join(f"Places365_val_0000000{i + 1}.jpg 165\n" for i in range(2)))


def test_places365_reads_its_split_files(tmp_path):
    fake_places(tmp_path)
    assert len(Places365(tmp_path, 32)) == 3 and Places365(tmp_path, 32)[0]["image"].shape == (3, 32, 32)
    val = Places365(tmp_path, 32, split="val")
    assert len(val) == 2 and val.crop == "center"
    (tmp_path / "val_256" / "Places365_val_00000002.jpg").unlink()
    with pytest.raises(DataError, match="1 of its 2 photos are missing"):
        Places365(tmp_path, 32, split="val")
    with pytest.raises(DataError, match="as downloaded"):
        Places365(tmp_path / "val_256", 32)


def test_paris_and_dtd_layouts(tmp_path):
    photos(tmp_path / "paris" / "paris_train_original", 2, (936, 537))
    photos(tmp_path / "paris" / "paris_eval_gt", 1, (936, 537))
    assert len(ParisStreetView(tmp_path / "paris", 64)) == 2
    assert len(ParisStreetView(tmp_path / "paris", 64, split="test")) == 1
    with pytest.raises(DataError, match="paris_eval_gt/ or test/"):
        ParisStreetView(tmp_path, 64, split="test")
    for texture in ("banded", "woven"):
        photos(tmp_path / "dtd" / "images" / texture, 2, (80, 70))
    (tmp_path / "dtd" / "labels").mkdir()
    (tmp_path / "dtd" / "labels" / "train1.txt").write_text("banded/photo_001.jpg\nwoven/photo_001.jpg\n")
    (tmp_path / "dtd" / "labels" / "test1.txt").write_text("banded/sub/photo_000.jpg\n")
    assert len(DTD(tmp_path / "dtd", 32)) == 2 and len(DTD(tmp_path / "dtd", 32, split="test")) == 1


# --- no face anywhere -------------------------------------------------------------------------------------

NO_FACE_RECIPE = """\
name: no_face
image_size: 32
data:
  train: {{type: scene_folder, root: {root}, crop: random}}
  val: {{type: scene_folder, root: {root}}}
masks:
  train: {{type: lama, preset: medium}}
  eval: [{{type: lama, preset: thick}}]
model:
  generator: {{type: timm_generator, encoder: resnet18, mask_channel: true, decoder_channels: [8, 8, 8, 8, 8]}}
  discriminators:
    local: {{type: gfc_local_discriminator, patch_size: 16, view: hole, width: 0.125}}
  parser: null
losses:
  reconstruction: {{type: charbonnier_l1}}
  local_adversarial: {{type: bce_adversarial, discriminator: local, weight: 1.0}}
stages:
  - {{name: reconstruction, steps: 2, losses: [reconstruction]}}
  - {{name: adversarial, steps: 2, losses: [reconstruction, local_adversarial]}}
train: {{batch_size: 2, num_workers: 0, report_images: 2}}
output: {output}
"""


def test_a_recipe_without_parser_regions_or_faces_trains_exports_and_completes(tmp_path, with_plugin):
    from gfc_kit.commands.cli import cli

    photos(tmp_path / "photos", 6, (80, 60))
    recipe = tmp_path / "no_face.yaml"
    recipe.write_text(NO_FACE_RECIPE.format(root=tmp_path / "photos", output=tmp_path / "run"))
    trained = CliRunner().invoke(cli, ["run", str(recipe)])
    assert trained.exit_code == 0, trained.output
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["face_layout"] is None and "parser" not in meta and meta["fully_convolutional"]
    exported = CliRunner().invoke(cli, ["export", str(tmp_path / "run"), "--output", str(tmp_path / "model")])
    assert exported.exit_code == 0, exported.output
    photo = np.asarray(Image.open(photos(tmp_path / "big", 1, (300, 200))[0]))
    hole = np.zeros(photo.shape[:2], np.uint8)
    hole[50:80, 40:90] = 255
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(hole).save(tmp_path / "hole.png")
    done = CliRunner().invoke(cli, ["complete", "--run", str(tmp_path / "model"), "--input", str(tmp_path / "photo.png"),
                                    "--mask", str(tmp_path / "hole.png"), "--output", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert "face" not in done.output.lower()
    result = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    assert not np.array_equal(result[50:80, 40:90], photo[50:80, 40:90])
    far = np.ones(hole.shape, bool)
    far[20:110, 10:120] = False  # the hole and more than any blend band around it
    assert np.array_equal(result[far], photo[far])
    aligned = CliRunner().invoke(cli, ["complete", "--run", str(tmp_path / "model"), "--input", str(tmp_path / "photo.png"),
                                       "--mask", str(tmp_path / "hole.png"), "--crop", "celeba",
                                       "--output", str(tmp_path / "out2")])
    assert aligned.exit_code != 0 and "no face layout" in aligned.output


def test_plugin_recipes_run_with_smoke(tmp_path, with_plugin):
    """Both recipes for two steps a stage: the CPU one on ../shared/data/nonface, the Places365 one on
    a fake Places365 tree (the real one cannot be downloaded here)."""
    from gfc_kit.commands.cli import cli

    fake_places(tmp_path / "places")
    places = CliRunner().invoke(cli, ["run", str(PLUGIN / "recipes" / "gfc_scenes_256.yaml"), "--smoke",
                                      "--set", f"data.train.root={tmp_path / 'places'}",
                                      "--set", f"data.val.root={tmp_path / 'places'}",
                                      "--output", str(tmp_path / "places_run")])
    assert places.exit_code == 0, places.output
    if not NONFACE.is_dir():
        pytest.skip(f"{NONFACE} is absent (research-only photos beside the checkout)")
    cpu = CliRunner().invoke(cli, ["run", str(PLUGIN / "recipes" / "gfc_scenes_cpu.yaml"), "--smoke",
                                   "--output", str(tmp_path / "cpu_run")], catch_exceptions=False)
    assert cpu.exit_code == 0, cpu.output
    assert json.loads((tmp_path / "cpu_run" / "model.json").read_text())["face_layout"] is None


# --- the shipped scene model --------------------------------------------------------------------------------

def test_the_scene_model_is_listed_with_the_plugin_as_source(with_plugin):
    from gfc_kit.commands.cli import cli

    listing = CliRunner().invoke(cli, ["models"])
    assert listing.exit_code == 0, listing.output
    line = next(l for l in listing.output.splitlines() if l.startswith("gfc_scenes_128 "))
    assert "no face layout" in line and "from gfc_scenes" in line
    size = sum(f.stat().st_size for f in SCENE_MODEL.glob("*.safetensors"))
    assert size <= 50e6


def test_the_scene_model_completes_a_large_photo_with_two_holes(tmp_path, with_plugin):
    """2000×1500, two holes far apart: crops around each at the photo's scale; nothing else changes."""
    from gfc_kit.commands.cli import cli

    rng = np.random.default_rng(0)
    photo = np.asarray(Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
                       .resize((2000, 1500), Image.Resampling.BICUBIC))
    hole = np.zeros((1500, 2000), np.uint8)
    hole[200:330, 300:460] = 255
    hole[1100:1180, 1500:1800] = 255
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(hole).save(tmp_path / "hole.png")
    done = CliRunner().invoke(cli, ["complete", "--model", "gfc_scenes_128", "--input", str(tmp_path / "photo.png"),
                                    "--mask", str(tmp_path / "hole.png"), "--output", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert "face" not in done.output.lower()
    result = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    near = np.zeros(hole.shape, bool)
    near[150:380, 250:510] = near[1050:1230, 1450:1850] = True  # each hole and 50 px around it
    assert np.array_equal(result[~near], photo[~near])
    for y0, y1, x0, x1 in ((200, 330, 300, 460), (1100, 1180, 1500, 1800)):
        error = np.abs(result[y0:y1, x0:x1].astype(float) - photo[y0:y1, x0:x1]).mean()
        assert error < np.abs(photo[y0:y1, x0:x1].astype(float) - photo.mean((0, 1))).mean()


def test_pip_installed_plugin_lists_its_model(tmp_path):
    """Install the distribution for real (no network: no deps, no build isolation) and let gfc-kit
    find it through its entry point in a fresh process, offline."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PLUGIN)], check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "GFC_KIT_DISABLE_PLUGINS"}
    env.update(PYTHONPATH=str(target), GFC_KIT_PLUGINS="gfc_scenes")
    listing = subprocess.run([sys.executable, "-m", "gfc_kit", "models"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert listing.returncode == 0, listing.stderr
    line = next(l for l in listing.stdout.splitlines() if l.startswith("gfc_scenes_128 "))
    assert "from gfc-scenes 0.1.0" in line and str(target) in line
