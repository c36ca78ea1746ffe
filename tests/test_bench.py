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


def test_bench_times_a_stage_at_its_own_size_without_reading_its_data(tmp_path, monkeypatch):
    from gfc_kit import recipe as recipes
    from gfc_kit.commands.bench import Bench
    from gfc_kit.training.trainer import Trainer

    recipe = recipes.load(write_recipe(tmp_path), [
        "image_size=64", "model.generator={type: timm_generator, encoder: resnet18, decoder_channels: [8, 8, 8, 8, 8]}",
        "stages.1.image_size=32", f"stages.1.data={{type: image_folder, root: {tmp_path / 'not_here'}}}"])
    sizes = []
    step = Trainer.step
    monkeypatch.setattr(Trainer, "step", lambda self, batch, stage, rng: sizes.append((stage.name, batch["image"].shape[-1]))
                        or step(self, batch, stage, rng))
    bench = Bench(recipe, batch_size=2, repeats=1, warmup=0)
    try:
        rows = bench.training()
    finally:
        bench.close()
    assert [r["stage"] for r in rows] == ["parser", "reconstruction", "local", "global"]
    assert sizes == [("parser", 64), ("reconstruction", 32), ("local", 64), ("global", 64)]
