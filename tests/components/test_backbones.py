"""Generators on timm encoders and on segmentation_models_pytorch: built offline, any family,
trained by the paper's recipe unchanged, unknown names refused with close ones."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

import gfc_kit
from gfc_kit.commands.cli import cli
from gfc_kit.errors import RecipeError
from tiny_recipe import write_recipe


@pytest.mark.parametrize("encoder", ["resnet10t", "mobilenetv3_small_050", "efficientnet_b0", "convnext_atto"])
def test_timm_generator_on_each_family(encoder):
    generator = gfc_kit.create("generator", "timm_generator", encoder=encoder, image_size=64).eval()
    assert generator(torch.rand(2, 3, 64, 64) * 2 - 1).shape == (2, 3, 64, 64)


def test_timm_generator_options_mask_channel_no_skips_and_the_papers_bottleneck():
    generator = gfc_kit.create("generator", "timm_generator", encoder="resnet10t", image_size=64, skips=False,
                               bottleneck=32, decoder_channels=[8, 8, 16, 16, 32], mask_channel=True).eval()
    assert generator.mask_channel and generator.fc[0].out_features == 32
    assert generator(torch.rand(2, 4, 64, 64)).shape == (2, 3, 64, 64)
    with pytest.raises(gfc_kit.GfcError, match="decoder_channels: 2 given, but encoder 'resnet10t' has 5"):
        gfc_kit.create("generator", "timm_generator", encoder="resnet10t", decoder_channels=[8, 8])


@pytest.mark.parametrize(("arch", "encoder"), [("Unet", "resnet18"), ("FPN", "tu-mobilenetv3_small_050"),
                                               ("UnetPlusPlus", "mobilenet_v2")])
def test_smp_generator_produces_an_image(arch, encoder):
    generator = gfc_kit.create("generator", "smp_generator", arch=arch, encoder=encoder, image_size=64).eval()
    assert generator(torch.rand(1, 3, 64, 64)).shape == (1, 3, 64, 64)


@pytest.mark.parametrize(("name", "params", "message"), [
    ("timm_generator", {"encoder": "resnet181"}, "encoder: 'resnet181' is not a model timm .* knows; close: resnet18"),
    ("timm_generator", {"encoder": "mobilnetv3_small_050"}, "close: mobilenetv3_small_050"),
    ("smp_generator", {"encoder": "resnet181"}, "encoder: 'resnet181' is not an smp encoder; close: resnet18"),
    ("smp_generator", {"encoder": "tu-convnext_attto"}, "close: convnext_atto"),
    ("smp_generator", {"arch": "Unett"}, "arch: 'Unett' is not an smp architecture; close: Unet"),
])
def test_unknown_names_suggest_close_ones(name, params, message):
    with pytest.raises(RecipeError, match=message):
        gfc_kit.create("generator", name, **params)


def test_a_recipe_with_an_unknown_encoder_fails_its_check_in_one_line():
    result = CliRunner().invoke(cli, ["recipe", "check", "quickstart", "--set",
                                      "model.generator={type: timm_generator, encoder: resnet181}"])
    assert result.exit_code == 2
    assert result.output.count("error:") == 1 and "model.generator.encoder: 'resnet181'" in result.output
    assert "close: resnet18" in result.output


def test_encoders_start_from_local_weights_files_only(tmp_path):
    """``weights`` reads a local file (here random weights saved as the real model's keys);
    a missing file is an error that says nothing is downloaded."""
    import timm

    source = timm.create_model("resnet10t", pretrained=False)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "resnet10t.safetensors"))
    generator = gfc_kit.create("generator", "timm_generator", encoder="resnet10t", image_size=64,
                               weights=tmp_path / "resnet10t.safetensors")
    assert torch.equal(generator.encoder.conv1[0].weight, source.conv1[0].weight)

    smp_source = gfc_kit.create("generator", "smp_generator", encoder="resnet18", image_size=64)
    encoder = {k: v.contiguous() for k, v in smp_source.model.encoder.state_dict().items()}
    save_file(encoder, str(tmp_path / "encoder.safetensors"))
    loaded = gfc_kit.create("generator", "smp_generator", encoder="resnet18", image_size=64,
                            weights=tmp_path / "encoder.safetensors")
    assert torch.equal(loaded.model.encoder.conv1.weight, smp_source.model.encoder.conv1.weight)
    with pytest.raises(gfc_kit.GfcError, match="never downloads"):
        gfc_kit.create("generator", "timm_generator", encoder="resnet10t", weights=tmp_path / "nope.pth")


@pytest.mark.parametrize("generator", [
    "{type: timm_generator, encoder: resnet10t, decoder_channels: [8, 8, 8, 16, 16], mask_channel: true}",
    "{type: smp_generator, arch: FPN, encoder: tu-mobilenetv3_small_050}",
])
def test_the_papers_recipe_trains_another_backbone_unchanged(tmp_path, generator):
    """Every stage of the paper's recipe (parser, reconstruction, local, global + parsing), with
    only the generator swapped, the mask channel included, and the model completes a photo."""
    recipe = write_recipe(tmp_path)
    result = CliRunner().invoke(cli, ["run", str(recipe), "--set", f"model.generator={generator}",
                                      "--output", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    completer = gfc_kit.ModelCompleter.from_run(tmp_path / "run")
    image, mask = torch.rand(1, 3, 32, 32) * 2 - 1, torch.zeros(1, 1, 32, 32)
    mask[..., 8:20, 8:20] = 1
    done = completer(image, mask)
    assert torch.equal(done * (1 - mask), image * (1 - mask)) and not torch.equal(done, image)
