"""gfc-kit bench on the tiny recipe: every figure is measured and reported (not its speed)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from tiny_recipe import write_recipe

from gfc_kit.commands import cli


def test_bench_reports_training_overhead_inference_and_data(tmp_path):
    recipe = write_recipe(tmp_path)
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["bench", str(recipe), "--batch-size", "2", "--repeats", "1", "--warmup", "0",
                                      "--no-compile", "--json", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert [r["stage"] for r in figures["training"]] == ["parser", "reconstruction", "local", "global"]
    assert all(r["ms_per_step"] > 0 and r["images_per_s"] > 0 for r in figures["training"])
    assert figures["overhead"]["stage"] == "global" and figures["overhead"]["overhead_ratio"] > 0
    paths = {(r["path"], r["batch"]) for r in figures["inference"]}
    assert {("fp32 eager", 1), ("channels_last", 16), ("channels_last + bf16", 16)} <= paths
    assert all(r["speedup"] > 0 for r in figures["inference"] if r["ms_per_image"])
    assert figures["data_loader"]["images_per_s"] > 0 and figures["peak_mb"] > 0
    assert "overhead" in result.output and "fastest inference at batch 16" in result.output


def test_bench_times_the_trainers_stage_objects_at_their_own_size_without_reading_data(tmp_path, monkeypatch):
    """bench steps the very stage objects a run steps (kind ``stage``), each at its own size."""
    from gfc_kit import recipe as recipes
    from gfc_kit.commands.bench import Bench
    from gfc_kit.training.stages import GeneratorStage, ParserStage

    recipe = recipes.load(write_recipe(tmp_path), [
        "image_size=64", "model.generator={type: timm_generator, encoder: resnet18, decoder_channels: [8, 8, 8, 8, 8]}",
        "stages.1.image_size=32", f"stages.1.data={{type: image_folder, root: {tmp_path / 'not_here'}}}"])
    steps = []
    for cls in (GeneratorStage, ParserStage):
        def counted(self, parts, stage, batch, rng, step=cls.step):
            steps.append((type(self).__name__, stage.name, batch["image"].shape[-1]))
            return step(self, parts, stage, batch, rng)
        monkeypatch.setattr(cls, "step", counted)
    bench = Bench(recipe, batch_size=2, repeats=1, warmup=0)
    rows = bench.training()
    assert [r["stage"] for r in rows] == ["parser", "reconstruction", "local", "global"]
    assert steps == [("ParserStage", "parser", 64), ("GeneratorStage", "reconstruction", 32),
                     ("GeneratorStage", "local", 64), ("GeneratorStage", "global", 64)]


def test_bench_model_times_every_path_and_saves_the_fastest_that_keeps_the_result(tmp_path, monkeypatch):
    """The shipped 64-px model, 16 faces, one timed call each: every path has a time and a PSNR
    change (or says why not), and --save records a path ModelCompleter then runs."""
    import pytest

    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from gfc_kit import ModelCompleter
    from gfc_kit.inference import fastest

    monkeypatch.setenv("GFC_KIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["bench", "--model", "gfc_celeba_cpu", "--faces", "16", "--repeats", "1",
                                      "--warmup", "0", "--save", "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["rows"]
    assert {(r["path"], r["batch"]) for r in rows} >= {(p, b) for p in ("channels_last", "onnxruntime", "onnxruntime_int8")
                                                       for b in (1, 16)}
    timed_rows = [r for r in rows if r["ms_per_image"]]
    assert all(r["speedup"] > 0 and abs(r["psnr_change_db"]) < 5 for r in timed_rows)
    assert all(r["note"] for r in rows if not r["ms_per_image"])  # a path not timed says why
    assert "CPU " in result.output and "fp32 eager ms/image" in result.output and "saved: " in result.output
    record = json.loads((tmp_path / "cache" / "fastest.json").read_text())
    (choice,) = record.values()
    allowed = {r["path"] for r in timed_rows if r["psnr_change_db"] >= -fastest.PSNR_BUDGET} | {"eager"}
    assert choice["path"] in allowed - {"compiled", "compiled_bf16"}
    assert ModelCompleter.pretrained("gfc_celeba_cpu").runtime.name == choice["path"]


def test_bench_model_and_a_recipe_together_is_an_error():
    result = CliRunner().invoke(cli, ["bench", "gfc_cvpr17", "--model", "gfc_celeba_cpu"])
    assert result.exit_code == 2 and "not both" in result.output
    result = CliRunner().invoke(cli, ["bench", "--save"])
    assert result.exit_code == 2 and "give --model NAME" in result.output
