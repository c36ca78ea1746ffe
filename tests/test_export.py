"""``gfc-kit export --format onnx``: both shipped models as ONNX files that ONNX Runtime completes
exactly as PyTorch does (on real faces when ``../shared/data`` is there, on synthetic faces always),
their metadata, dynamic shapes, and the per-machine fastest-path record ``ModelCompleter`` reads."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from click.testing import CliRunner

import gfc_kit
from gfc_kit import ModelCompleter
from gfc_kit.commands import cli
from gfc_kit.inference import fastest
from gfc_kit.inference.onnx_export import OPSET, read_metadata
from gfc_kit.inference.runtimes import OnnxRuntime, TorchRuntime
from gfc_kit.plugins import registry

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

SHIPPED = {"gfc_celeba_cpu": 64, "gfc_celeba_128": 128}


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def exported(request, tmp_path_factory):
    """A shipped model's name and the ONNX file ``gfc-kit export`` writes for it."""
    path = tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx"
    result = CliRunner().invoke(cli, ["export", "--model", request.param, "--format", "onnx", "--output", str(path)])
    assert result.exit_code == 0, result.output
    assert f"wrote {path}" in result.output
    return request.param, path


def assert_same_completion(name: str, path, image: torch.Tensor) -> None:
    """ONNX Runtime's completion of ``image`` (O1–O6 and free-form holes) within 1/255 of PyTorch's
    in every hole pixel ([0, 1] pixels), the hole PSNR between the two at least 50 dB."""
    torch_model = ModelCompleter.pretrained(name, fastest=False)
    torch_model.runtime = TorchRuntime(torch_model.generator, "eager")
    onnx_model = ModelCompleter.pretrained(name, fastest=False)
    onnx_model.runtime = OnnxRuntime(path)
    for region in ("O1", "O2", "O3", "O4", "O5", "O6", "free_form"):
        sampler = (gfc_kit.create("mask_sampler", "regions", region=region) if region != "free_form"
                   else gfc_kit.create("mask_sampler", "free_form"))
        mask = sampler({"image": image}, torch.Generator().manual_seed(0))
        ours, theirs = ((m.complete_tensor(image, mask) + 1) / 2 for m in (torch_model, onnx_model))
        hole = mask.expand_as(image) > 0.5
        difference = (ours - theirs)[hole]
        assert difference.abs().max() <= 1 / 255, (region, float(difference.abs().max()))
        psnr = 10 * torch.log10(1 / difference.square().mean().clamp_min(1e-12))
        assert psnr >= 50, (region, float(psnr))


def test_onnx_runtime_completes_synthetic_faces_as_pytorch_does(exported):
    name, path = exported
    faces = gfc_kit.create("dataset", "synthetic_faces", image_size=SHIPPED[name], length=8, seed=3)
    assert_same_completion(name, path, torch.stack([faces[i]["image"] for i in range(8)]))


def test_onnx_runtime_completes_real_faces_as_pytorch_does(exported, shared_data):
    name, path = exported
    faces = gfc_kit.create("dataset", "celeba", root=shared_data / "faces" / "celeba", image_size=SHIPPED[name],
                           split="test", identity_file=shared_data / "annotations" / "identity_CelebA.txt", limit=32)
    assert_same_completion(name, path, torch.stack([faces[i]["image"] for i in range(len(faces))]))


def test_the_file_carries_the_model_and_how_to_feed_it(exported):
    name, path = exported
    meta = read_metadata(path)
    model_json = json.loads((registry().model(name).folder / "model.json").read_text())
    assert json.loads(meta["gfc_kit.model_json"]) == model_json
    assert meta["image_size"] == str(SHIPPED[name]) and meta["hole_fill"] == model_json["hole_fill"]
    assert meta["mask_channel"] == str(model_json["generator"].get("mask_channel", False)).lower()
    import onnx

    model = onnx.load(str(path))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    assert {t.data_type for t in model.graph.initializer} <= {onnx.TensorProto.FLOAT,
                                                                              onnx.TensorProto.INT64}


def test_batch_is_dynamic_and_so_are_the_sides_of_fully_convolutional_models(exported):
    name, path = exported
    runtime = OnnxRuntime(path)
    size = SHIPPED[name]
    assert runtime(torch.zeros(3, 3, size, size), torch.ones(3, 1, size, size)).shape == (3, 3, size, size)
    dims = runtime.session.get_inputs()[0].shape
    if name == "gfc_celeba_128":  # the timm U-Net: any multiple of 32
        assert dims == ["batch", 3, "height", "width"]
        assert runtime(torch.zeros(1, 3, 96, 160), torch.ones(1, 1, 96, 160)).shape == (1, 3, 96, 160)
    else:  # the paper's fully connected bottleneck takes its own size only
        assert dims == ["batch", 3, size, size]


@pytest.mark.parametrize("args, message", [
    (["--format", "onnx", "--output", "m.onnx"], "give one of RUN_DIR or --model NAME"),
    (["--model", "gfc_celeba_cpu", "--format", "onnx", "--output", "m.pt"], "give a name ending in .onnx"),
    (["--model", "gfc_celeba_cpu", "--format", "onnx", "--output", "a_file/m.onnx"], "a_file on its path is a file"),
    (["--model", "gfc_celeba_cpu", "--format", "onnx", "--output", "a_folder.onnx"], "is a folder"),
    (["--model", "no_such_model", "--format", "onnx", "--output", "m.onnx"], "no_such_model"),
])
def test_bad_export_arguments_are_one_line_errors(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder.onnx").mkdir()
    result = CliRunner().invoke(cli, ["export", *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_a_saved_fastest_path_is_used_for_those_weights_on_this_machine_only(exported, tmp_path, monkeypatch, caplog):
    name, path = exported
    monkeypatch.setenv("GFC_KIT_CACHE", str(tmp_path / "cache"))
    folder = registry().model(name).folder
    assert ModelCompleter.pretrained(name).runtime.name == "channels_last"  # nothing saved: PyTorch
    files = fastest.files_folder(folder)
    files.mkdir(parents=True)
    (files / "onnxruntime.onnx").write_bytes(path.read_bytes())
    fastest.save_choice(folder, "onnxruntime", {"speedup": 1.7})
    assert ModelCompleter.pretrained(name).runtime.name == "onnxruntime"
    assert ModelCompleter.pretrained(name, fastest=False).runtime.name == "channels_last"
    other = "gfc_celeba_128" if name == "gfc_celeba_cpu" else "gfc_celeba_cpu"
    assert ModelCompleter.pretrained(other).runtime.name == "channels_last"  # other weights: no record
    monkeypatch.setattr(fastest, "machine_key", lambda: {"cpu": "another machine"})
    assert ModelCompleter.pretrained(name).runtime.name == "channels_last"  # another machine: no record
    monkeypatch.undo()
    monkeypatch.setenv("GFC_KIT_CACHE", str(tmp_path / "cache"))
    (files / "onnxruntime.onnx").unlink()
    with caplog.at_level(logging.WARNING):
        assert ModelCompleter.pretrained(name).runtime.name == "channels_last"
    assert "file is missing" in caplog.text
