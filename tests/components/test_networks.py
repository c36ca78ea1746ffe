"""The paper's networks: the released layouts (conv widths, pools, unpools) and exact parameter
counts derived by hand from DESIGN.md section 7, forward shapes at tiny widths (full sizes on the
meta device), the smp parser offline, and loading local VGG-19 weights."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

import gfc_kit
from gfc_kit.components.networks.vgg import TORCHVISION_INDEX, VGG19_STAGES, WeightsError
from gfc_kit.errors import GfcError, RecipeError
from gfc_kit.factory import build

P, U = "pool", "unpool"

GENERATOR = [
    32, 32, P, 64, 64, P, 128, 128, P, 256, 256, 256, 256, P,  # extra block, VGG-19 conv1–conv3
    ("fc", 4096), ("fc", 16384),                               # 256×8×8 → 4096 → 256×8×8
    U, 64, 64, 64, 128, U, 64, 64, U, 64, 32, U, 32, 32, 3,    # @16, @32, @64, @128, to RGB
]  # fmt: skip
"""DESIGN.md section 7, the released code's layout: conv output channels, pools, unpools, FCs."""

GENERATOR_AFTER = [
    64, 64, P, 128, 128, P, 256, 256, 256, 256, P, 256, 256, P,  # VGG conv1–conv3, extra block
    ("fc", 4096), ("fc", 16384),
    U, 256, 256, U, 64, 64, 64, 128, U, 64, 64, U, 64, 32, 3,
]  # fmt: skip

PARSER = [
    64, 64, P, 128, 128, P, *[256] * 4, P, *[512] * 4, P, *[512] * 4, P,  # VGG-19 conv1_1 … conv5_4
    U, 512, U, 256, U, 128, U, 64, U, 32, 11,                              # SegNet decoder, classes
]  # fmt: skip

LOCAL_D = [64, 64, 128, 128, 256, 256, 512, 512, 1]
GLOBAL_D = [32, 32, 64, 64, 128, 128, 256, 256, 512, 512, 1]


def layout(model: nn.Module) -> list:
    """Conv output channels, ``pool``, ``unpool`` and ``("fc", out)`` in the order they were built."""
    kinds = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            kinds.append(m.out_channels)
        elif isinstance(m, nn.MaxPool2d):
            kinds.append(P)
        elif isinstance(m, nn.MaxUnpool2d):
            kinds.append(U)
        elif isinstance(m, nn.Linear):
            kinds.append(("fc", m.out_features))
    return kinds


def hand_count(table: list, in_channels: int = 3, code_side: int = 8, kernels: list[int] | None = None) -> int:
    """Parameters of a layout table: conv k×k = in·out·k² + out, FC = in·out + out (the first FC
    reads the flattened ``code_side``² code; the second gives it back)."""
    total, channels, features = 0, in_channels, None
    convs = iter(kernels or [])
    for item in table:
        if isinstance(item, int):
            k = next(convs, 3)
            total += channels * item * k * k + item
            channels = item
        elif isinstance(item, tuple):
            features_in = features or channels * code_side**2
            total += features_in * item[1] + item[1]
            features = item[1]
    return total


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def generator() -> nn.Module:
    """The paper-size generator (137 M parameters, ≈ 550 MB), built once for this module."""
    return gfc_kit.create("generator", "gfc_generator")


def test_generator_has_the_released_layout_and_size(generator):
    assert layout(generator) == GENERATOR
    assert count(generator) == hand_count(GENERATOR) == 137_071_331
    fc = count(generator.fc)
    assert 136e6 < count(generator) < 138e6 and abs(fc - 134e6) < 0.5e6
    assert not any(isinstance(m, nn.BatchNorm2d) for m in generator.modules())


def test_generator_starts_as_the_released_prototxt(generator):
    """msra (variance_norm AVERAGE) everywhere, std 0.001 on the output conv, zero biases."""
    fc = generator.fc.fc.weight
    assert fc.std().item() == pytest.approx((4 / (16384 + 4096)) ** 0.5, rel=0.01)
    assert generator.output.weight.std().item() == pytest.approx(0.001, rel=0.2)
    assert all(m.bias.abs().max() == 0 for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


@pytest.mark.parametrize("extra_block, table", [("before", GENERATOR), ("after", GENERATOR_AFTER)])
def test_generator_full_size_forward_shape_on_meta(extra_block, table):
    with torch.device("meta"):
        g = gfc_kit.create("generator", "gfc_generator", extra_block=extra_block)
        out = g(torch.empty(2, 3, 128, 128))
    assert layout(g) == table and count(g) == hand_count(table)
    assert out.shape == (2, 3, 128, 128)


@pytest.mark.parametrize("extra_block", ["before", "after"])
def test_generator_small_forward_backward_and_channels_last(extra_block):
    torch.manual_seed(0)
    g = gfc_kit.create("generator", "gfc_generator", image_size=64, width=0.25, bottleneck=64, extra_block=extra_block)
    assert g.fc.fc.in_features == (64 // 16) ** 2 * 64  # (S/16)² × 256·width
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    out = g(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    out.square().mean().backward()
    assert all(p.grad is not None for p in g.parameters())
    with torch.no_grad():
        cl = g.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(cl, out.detach(), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="64×64"):
        g(torch.zeros(1, 3, 32, 32))


def test_generator_mask_channel_takes_four_channels():
    g = gfc_kit.create("generator", "gfc_generator", image_size=32, width=0.125, bottleneck=16, mask_channel=True)
    assert g.encoder["extra"].extra_1.in_channels == 4
    assert g(torch.zeros(2, 4, 32, 32)).shape == (2, 3, 32, 32)
    with pytest.raises(RuntimeError):
        g(torch.zeros(2, 3, 32, 32))


def test_generator_params_are_validated_like_a_recipe():
    with pytest.raises(RecipeError, match="gfc_generator.image_size: Input should be a multiple of 16"):
        gfc_kit.create("generator", "gfc_generator", image_size=100)
    with pytest.raises(RecipeError, match="gfc_generator.extra_block"):
        gfc_kit.create("generator", "gfc_generator", extra_block="middle")
    with pytest.raises(RecipeError, match="gfc_generator.width"):
        gfc_kit.create("generator", "gfc_generator", width=0)


@pytest.mark.parametrize(
    "name, size, table, params",
    [("gfc_local_discriminator", 64, LOCAL_D, 7_130_689), ("gfc_global_discriminator", 128, GLOBAL_D, 7_164_705)],
)
def test_discriminators_have_the_released_layout(name, size, table, params):
    d = gfc_kit.create("discriminator", name)
    kernels = [3, 4] * (len(table) // 2) + [4]  # [conv3×3 s1, conv4×4 s2] per stage, then the 4×4 head
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert layout(d) == table
    assert [c.kernel_size[0] for c in convs] == kernels
    assert [c.stride[0] for c in convs] == [1, 2] * (len(table) // 2) + [1]
    assert count(d) == hand_count(table, kernels=kernels) == params
    assert sum(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in d.modules()) == len(table) - 1
    with torch.device("meta"):
        assert d.to("meta")(torch.empty(5, 3, size, size)).shape == (5,)


@pytest.mark.parametrize(
    "name, key, size, head",
    [
        ("gfc_local_discriminator", "patch_size", 32, 2),  # quickstart: 32×32 holes in 64×64 images
        ("gfc_global_discriminator", "image_size", 64, 2),
        ("gfc_local_discriminator", "patch_size", 64, 4),  # the paper: the released 4×4 head
        ("gfc_global_discriminator", "image_size", 128, 4),
    ],
)
def test_discriminators_give_one_logit_per_image_at_any_size(name, key, size, head):
    d = gfc_kit.create("discriminator", name, width=0.125, **{key: size})
    assert d.layers.head.kernel_size == (head, head)
    logits = d(torch.rand(3, 3, size, size) * 2 - 1)
    assert logits.shape == (3,) and logits.dtype == torch.float32
    with pytest.raises(ValueError, match=f"{size}×{size}"):
        d(torch.zeros(3, 3, size * 2, size * 2))


def test_recipe_image_size_reaches_the_global_discriminator():
    d = build("discriminator", {"type": "gfc_global_discriminator", "width": 0.125}, ("model", "global_discriminator"),
              image_size=64)  # fmt: skip
    assert d(torch.zeros(1, 3, 64, 64)).shape == (1,)


def test_gfc_parser_layout_and_forward():
    with torch.device("meta"):
        full = gfc_kit.create("parser", "gfc_parser")
    assert layout(full) == PARSER
    assert count(full) == hand_count(PARSER) == 23_954_571
    assert [m.p for m in full.modules() if isinstance(m, nn.Dropout)] == [0.5] * 5
    parser = gfc_kit.create("parser", "gfc_parser", width=0.125).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    logits = parser(x)
    assert logits.shape == (2, 11, 64, 64)
    torch.testing.assert_close(parser(x), logits)  # dropout is off in eval
    with pytest.raises(ValueError, match="divisible by 32"):
        parser(torch.zeros(1, 3, 48, 48))


def test_smp_parser_builds_offline():
    parser = gfc_kit.create("parser", "smp_parser").eval()
    assert parser(torch.zeros(2, 3, 64, 64)).shape == (2, 11, 64, 64)
    with pytest.raises(GfcError, match="arch: 'unetx' is not an smp architecture; close: Unet"):
        gfc_kit.create("parser", "smp_parser", arch="unetx")


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A torchvision VGG-19 state dict's conv weights (``features.N.*``, the real keys and
    shapes, random values), saved as .pth; the classifier's 120 M parameters are left out."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in torchvision.models.vgg19(weights=None).state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=generator) for k, s in shapes.items() if k.startswith("features.")}
    path = tmp_path_factory.mktemp("weights") / "vgg19.pth"
    torch.save(state, path)
    return path, state


def test_vgg_names_match_torchvision(vgg19_file):
    _, state = vgg19_file
    assert {f"features.{i}.weight" for i in TORCHVISION_INDEX.values()} == {k for k in state if k.endswith("weight")}
    widths = [state[f"features.{TORCHVISION_INDEX[name]}.weight"].shape[0] for name in TORCHVISION_INDEX]
    assert widths == [c for stage in VGG19_STAGES.values() for c in stage]


@pytest.mark.parametrize("extra_block", ["before", "after"])
def test_generator_loads_local_vgg19_weights(vgg19_file, extra_block):
    path, state = vgg19_file
    g = gfc_kit.create("generator", "gfc_generator", image_size=16, vgg_weights=str(path), extra_block=extra_block)
    torch.testing.assert_close(g.encoder["conv1"].conv1_2.weight, state["features.2.weight"], rtol=0, atol=0)
    torch.testing.assert_close(g.encoder["conv3"].conv3_4.bias, state["features.16.bias"], rtol=0, atol=0)
    conv1_1 = g.encoder["conv1"].conv1_1
    if extra_block == "after":
        torch.testing.assert_close(conv1_1.weight, state["features.0.weight"], rtol=0, atol=0)
    else:  # it sees the extra block's 32 channels: from scratch, as the released conv1_1_new
        assert conv1_1.in_channels == 32 and "conv1_1" not in g.vgg_layers()
    masked = gfc_kit.create("generator", "gfc_generator", image_size=16, vgg_weights=path, extra_block=extra_block,
                            mask_channel=True)  # fmt: skip
    assert "conv1_1" not in masked.vgg_layers()
    torch.testing.assert_close(masked.encoder["conv1"].conv1_2.weight, state["features.2.weight"], rtol=0, atol=0)


def test_parser_loads_local_vgg19_weights_from_safetensors(vgg19_file, tmp_path):
    _, state = vgg19_file
    path = tmp_path / "vgg19.safetensors"
    save_file(state, path)
    parser = gfc_kit.create("parser", "gfc_parser", vgg_weights=path)
    torch.testing.assert_close(parser.encoder["conv1"].conv1_1.weight, state["features.0.weight"], rtol=0, atol=0)
    torch.testing.assert_close(parser.encoder["conv5"].conv5_4.weight, state["features.34.weight"], rtol=0, atol=0)


def test_unfit_weights_are_refused_naming_the_file(vgg19_file, tmp_path):
    path, state = vgg19_file
    with pytest.raises(WeightsError, match=f"{re.escape(str(path))}.*fit only width 1"):
        gfc_kit.create("parser", "gfc_parser", width=0.5, vgg_weights=path)
    missing = tmp_path / "partial.pth"
    torch.save({k: v for k, v in state.items() if k != "features.34.weight"}, missing)
    with pytest.raises(WeightsError, match=re.escape(f"{missing}: no 'features.34.weight'")):
        gfc_kit.create("parser", "gfc_parser", vgg_weights=missing)
    garbage = tmp_path / "notes.pth"
    garbage.write_text("not weights")
    with pytest.raises(WeightsError, match=re.escape(f"{garbage}: cannot read")):
        gfc_kit.create("generator", "gfc_generator", image_size=16, vgg_weights=garbage)
    with pytest.raises(WeightsError, match="not found"):
        gfc_kit.create("generator", "gfc_generator", image_size=16, vgg_weights=tmp_path / "absent.pth")
