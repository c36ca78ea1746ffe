"""gfc-kit evaluate: classical completers, metrics, the fixed image-hole pairing and the report."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import gfc_kit
from gfc_kit.commands import cli
from gfc_kit.commands.specs import mask_spec, parse_spec, split_specs
from gfc_kit.errors import GfcError
from gfc_kit.evaluation.evaluator import Evaluator, parsing_scores, summarize


def faces(n: int = 4, size: int = 32):
    return gfc_kit.create("dataset", "synthetic_faces", image_size=size, length=n, seed=3)


def batch_of(dataset, n: int) -> torch.Tensor:
    return torch.stack([dataset[i]["image"] for i in range(n)])


@pytest.mark.parametrize("name", ["telea", "navier_stokes", "mean_fill"])
def test_classical_completers_fill_the_hole_and_keep_every_known_pixel(name):
    image = batch_of(faces(), 2)
    mask = gfc_kit.create("mask_sampler", "center", size=12)({"image": image})
    done = gfc_kit.create("completer", name)(image, mask)
    assert done.shape == image.shape
    assert torch.equal(done[mask.expand_as(image) == 0], image[mask.expand_as(image) == 0])
    hole = mask.expand_as(image) == 1
    assert (done[hole] - image[hole]).abs().mean() < (image[hole] + 1).abs().mean()  # better than black


def test_telea_continues_a_flat_colour_into_the_hole():
    image = torch.full((1, 3, 32, 32), 0.25)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 10:20, 10:20] = 1
    done = gfc_kit.create("completer", "telea")(image.clone(), mask)
    assert (done - image).abs().max() <= 2 / 127.5  # within 2 grey levels of 255


def test_metrics_on_known_errors():
    target = torch.zeros(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., :4, :] = 1  # half the image
    completed = target.clone()
    completed[:, :, :4, :] = 0.2  # 0.1 off in [0, 1] units, in the hole only
    psnr = gfc_kit.create("metric", "psnr")
    psnr_hole = gfc_kit.create("metric", "psnr", region="hole")
    l1 = gfc_kit.create("metric", "l1")
    assert (psnr.name, psnr_hole.name, l1.name) == ("psnr", "psnr_hole", "l1_hole")
    assert torch.allclose(psnr_hole(completed, target, mask), torch.tensor(20.0))
    assert torch.allclose(psnr(completed, target, mask), torch.tensor(10 * math.log10(1 / 0.005)))
    assert torch.allclose(l1(completed, target, mask), torch.tensor(0.1))
    assert torch.allclose(gfc_kit.create("metric", "ssim")(target, target, mask), torch.tensor(1.0))
    assert gfc_kit.create("metric", "ssim")(completed, target, mask).lt(1).all()


def test_lpips_needs_a_real_local_weights_file(tmp_path):
    with pytest.raises(GfcError, match="LPIPS backbone weights not found"):
        gfc_kit.create("metric", "lpips", weights=tmp_path / "alexnet.pth")
    torch.save({"classifier.1.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(GfcError, match="not a torchvision alex state dict"):
        gfc_kit.create("metric", "lpips", weights=tmp_path / "other.pth")


def test_parsing_scores_count_only_the_hole():
    reference = torch.zeros(1, 4, 4, dtype=torch.long)
    reference[:, :2] = 1
    predicted = reference.clone()
    predicted[:, 0, :2] = 2  # 2 wrong of the 8 hole pixels
    predicted[:, 3] = 5  # wrong, but outside the hole
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    accuracy, miou = parsing_scores(predicted, reference, mask)
    assert accuracy.item() == pytest.approx(6 / 8)
    assert miou.item() == pytest.approx((6 / 8 + 0 / 2) / 2)  # classes 1 and 2


def test_image_hole_pairs_do_not_depend_on_the_batch_size():
    dataset = faces(5)
    masks = {"free_form": gfc_kit.create("mask_sampler", "free_form"),
             "random_square": gfc_kit.create("mask_sampler", "random_square", size=10)}
    metrics = [gfc_kit.create("metric", "l1")]
    completers = {"mean_fill": gfc_kit.create("completer", "mean_fill")}
    rows2, _ = Evaluator(dataset, masks, completers, metrics, batch_size=2).run()
    rows3, examples = Evaluator(dataset, masks, completers, metrics, batch_size=3).run()
    assert sorted(rows2, key=str) == sorted(rows3, key=str)
    assert len(rows2) == 5 * 2 and len(examples["free_form"].target) == 4
    summary = summarize(rows2)
    assert [(s["mask"], s["images"]) for s in summary] == [("free_form", 5), ("random_square", 5)]


def test_command_line_specs():
    assert split_specs(("O1,O2,center:size=32,margin=1", "mask_folder:/m")) == [
        "O1", "O2", "center:size=32,margin=1", "mask_folder:/m"]
    assert split_specs(("psnr,psnr:region=hole,ssim",)) == ["psnr", "psnr:region=hole", "ssim"]
    assert mask_spec("O3") == ("O3", {"type": "regions", "region": "O3"})
    assert mask_spec("mask_folder:/m") == ("mask_folder", {"type": "mask_folder", "root": "/m"})
    assert parse_spec("{type: celeba, split: test}", "--data") == {"type": "celeba", "split": "test"}
    assert parse_spec("center:size=0.25", "--masks") == {"type": "center", "size": 0.25}
    assert parse_spec("dlib:rotations=[10, -10],min_face=30", "--align") == {
        "type": "dlib", "rotations": [10, -10], "min_face": 30}  # commas inside brackets stay
    with pytest.raises(GfcError, match="--masks: 'oops' in 'center:size=1,oops' is not key=value"):
        parse_spec("center:size=1,oops", "--masks")


def evaluate(*args: str):
    return CliRunner().invoke(cli, ["evaluate", *args])


def test_evaluate_writes_the_report_with_tables_plot_and_grids(tiny_run, tmp_path):
    out = tmp_path / "report"
    result = evaluate("--run", str(tiny_run), "--data", "synthetic_faces:length=6,seed=5", "--masks", "O1,center",
                      "--completers", "telea,mean_fill", "--limit", "5", "--image-size", "32", "--output", str(out))
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "| O1 | run |" in report and "| center | run |" in report and "| | telea |" not in report
    for name in ("mask_size.png", "examples_O1.png", "examples_center.png", "summary.csv", "per_image.csv"):
        assert (out / name).is_file() and f"({name})" in report
    with (out / "summary.csv").open() as f:
        summary = list(csv.DictReader(f))
    assert {r["completer"] for r in summary} == {"run", "telea", "mean_fill"} and len(summary) == 6
    assert all(0 <= float(r["parse_acc"]) <= 1 for r in summary)  # the run's parser gives the parsing score
    with (out / "mask_size.csv").open() as f:
        sizes = sorted({round(float(r["hole_fraction"]), 4) for r in csv.DictReader(f)})
    assert len(sizes) == 6 and sizes[0] < sizes[-1]


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "nowhere_dataset"], "--data nowhere_dataset: no such folder, and no dataset type of that name"),
    (["--data", "synthetic_faces", "--masks", "O9"], "unknown mask_sampler 'O9'"),
    (["--data", "synthetic_faces", "--completers", "none"], "nothing to evaluate"),
    (["--data", "synthetic_faces", "--run", "/nonexistent/run"], "not a finished run"),
])
def test_evaluate_input_problems_are_one_line_exit_2(tmp_path, args, message):
    result = evaluate(*args, "--output", str(tmp_path / "out"), "--limit", "2", "--image-size", "32")
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_ssim_map_matches_torchmetrics():
    from torchmetrics.functional.image import structural_similarity_index_measure

    from gfc_kit.components.metrics import ssim_map

    x = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    _, reference = structural_similarity_index_measure(x, y, data_range=1.0, reduction="none",
                                                      return_full_image=True)
    assert torch.allclose(ssim_map(x, y), reference, atol=1e-5)


def test_frechet_distance_matches_torchmetrics_and_is_zero_for_the_same_set():
    from torchmetrics.image.fid import _compute_fid

    from gfc_kit.evaluation.evaluator import frechet_distance

    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 6, generator=g, dtype=torch.float64)
    b = torch.randn(200, 6, generator=g, dtype=torch.float64) * 1.5 + 0.3
    expected = _compute_fid(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-6)
    assert abs(frechet_distance(a, a)) < 1e-6


def test_fid_is_computed_per_completer_and_mask_from_the_features_given():
    from gfc_kit.evaluation.evaluator import FrechetDistance

    def colour_statistics(images):  # a stand-in feature extractor: per-channel mean and spread
        return torch.cat([images.mean((2, 3)), images.std((2, 3))], 1).double()

    fid = FrechetDistance(None, features=colour_statistics)
    completers = {"mean_fill": gfc_kit.create("completer", "mean_fill"), "telea": gfc_kit.create("completer", "telea")}
    masks = {"center": gfc_kit.create("mask_sampler", "center", size=16)}
    Evaluator(faces(12), masks, completers, [gfc_kit.create("metric", "l1")], batch_size=4, fid=fid).run()
    distances = fid.compute()
    assert set(distances) == {("mean_fill", "center"), ("telea", "center")}
    assert all(d > 0 for d in distances.values())


def test_fid_needs_a_local_weights_file(tmp_path):
    from gfc_kit.evaluation.evaluator import FrechetDistance

    with pytest.raises(GfcError, match="FID Inception weights not found"):
        FrechetDistance(tmp_path / "pt_inception.pth")


def test_full_resolution_scores_each_photo_at_its_size_through_the_pipeline(tmp_path):
    """``--full-resolution``: photos of two sizes, holes drawn at each size, the shipped model
    completing through crop, refiner and blender (one column per refiner) beside Telea."""
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for name, (w, h) in {"a.png": (96, 72), "b.png": (64, 80)}.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(photos / name)
    result = CliRunner().invoke(cli, ["evaluate", "--model", "gfc_celeba_128", "--data", str(photos), "--full-resolution",
                                      "--crop", "hole", "--refine", "none", "--refine", "residual", "--masks", "free_form",
                                      "--completers", "telea", "--output", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "report" / "per_image.csv")))
    assert {r["completer"] for r in rows} == {"gfc_celeba_128+none", "gfc_celeba_128+residual", "telea"}
    assert len(rows) == 6 and all(float(r["detail_hole"]) > 0 for r in rows)
    assert "each photo at its own size" in (tmp_path / "report" / "report.md").read_text()
    missing = CliRunner().invoke(cli, ["evaluate", "--data", str(tmp_path / "nope"), "--full-resolution",
                                       "--completers", "telea", "--output", str(tmp_path / "r2")])
    assert missing.exit_code == 2 and "--full-resolution reads a folder of photos" in missing.output


def test_full_resolution_places_face_regions_on_the_face_the_aligner_finds():
    from gfc_kit.evaluation.full_resolution import OnFace
    from gfc_kit.inference.pipeline import crop_face

    class Fixed:
        def __init__(self, faces):
            self.faces, self.calls = faces, 0

        def __call__(self, photo, layout):
            self.calls += 1
            return self.faces

    image = torch.zeros(1, 3, 200, 300)
    face = crop_face((300, 200), "center")  # the centred 200-px square as the face
    aligner, shared = Fixed([face]), {}
    eye = OnFace("O1", aligner, shared)({"image": image, "path": ["p.png"]})
    mouth = OnFace("O6", aligner, shared)({"image": image, "path": ["p.png"]})
    assert aligner.calls == 1  # found once per photo, shared by its regions
    assert eye.shape == (1, 1, 200, 300) and mouth.shape == eye.shape
    ys, xs = eye[0, 0].nonzero(as_tuple=True)
    assert 50 <= xs.float().mean() < 150 and ys.float().mean() < 110   # image-left eye
    assert mouth[0, 0].nonzero(as_tuple=True)[0].float().mean() > 120  # lower face
    with pytest.raises(GfcError, match="finds no face"):
        OnFace("O1", Fixed([]))({"image": image, "path": ["q.png"]})


def test_a_telea_hole_fill_is_what_the_telea_completer_gives():
    """``train.hole_fill: telea``: the generator sees the classical fill the ``telea`` completer makes."""
    from gfc_kit.interfaces import generator_input

    image = batch_of(faces(), 2)
    mask = gfc_kit.create("mask_sampler", "center", size=12)({"image": image})
    seen = generator_input(image, mask, "telea", mask_channel=True)
    assert seen.shape == (2, 4, 32, 32) and torch.equal(seen[:, 3:], mask)
    assert torch.allclose(seen[:, :3], gfc_kit.create("completer", "telea")(image, mask), atol=1e-6)
