"""The paper's losses, reduced as the released code does: sum over pixels, mean over the batch."""

from __future__ import annotations

import math

import pytest
import torch

import gfc_kit

N, H, W = 2, 4, 5
PIXELS = 3 * H * W  # values per image (three channels)


def per_image_difference(*differences: float) -> tuple[torch.Tensor, torch.Tensor]:
    """An output and a target that differ by ``differences[i]`` at every value of image ``i``."""
    target = torch.linspace(-1, 1, len(differences) * PIXELS).reshape(len(differences), 3, H, W)
    output = target + torch.tensor(differences).reshape(-1, 1, 1, 1)
    return output, target


def square_mask(n: int = N) -> tuple[torch.Tensor, int]:
    """A 2×3 hole in each image: the mask and the hole's pixel count."""
    mask = torch.zeros(n, 1, H, W)
    mask[:, :, 1:3, 1:4] = 1
    return mask, 6


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_charbonnier_l1_sums_over_pixels_and_averages_over_the_batch():
    """Image 0 off by 0.5 everywhere, image 1 by 1.0: (60·0.5 + 60·1.0) / 2 = 45."""
    loss = gfc_kit.create("loss", "charbonnier_l1")
    output, target = per_image_difference(0.5, 1.0)
    assert loss(output, target).item() == pytest.approx((PIXELS * 0.5 + PIXELS * 1.0) / 2, rel=1e-6)


def test_charbonnier_l1_eps_is_under_the_square_root():
    loss = gfc_kit.create("loss", "charbonnier_l1", eps=0.01)
    target = torch.zeros(N, 3, H, W)
    assert loss(target, target).item() == pytest.approx(PIXELS * 0.1, rel=1e-6)  # sqrt(0.01) per value


@pytest.mark.parametrize("name", ["charbonnier_l1", "l2"])
def test_pixel_losses_ignore_batch_size_and_grow_with_the_image_area(name):
    """The same images twice over leave the loss unchanged; twice the pixels per image doubles it."""
    loss = gfc_kit.create("loss", name)
    output, target = per_image_difference(0.5, 0.25)
    value = loss(output, target)
    doubled_batch = loss(torch.cat([output, output]), torch.cat([target, target]))
    doubled_area = loss(torch.cat([output, output], dim=3), torch.cat([target, target], dim=3))
    assert doubled_batch.item() == pytest.approx(value.item(), rel=1e-6)
    assert doubled_area.item() == pytest.approx(2 * value.item(), rel=1e-6)


def test_l2_is_half_the_squared_error_summed():
    """Caffe's EuclideanLoss: 0.5·0.5² per value, 60 values per image."""
    loss = gfc_kit.create("loss", "l2")
    output, target = per_image_difference(0.5, 0.5)
    assert loss(output, target).item() == pytest.approx(PIXELS * 0.5 * 0.5**2, rel=1e-6)


@pytest.mark.parametrize(("name", "per_value"), [("charbonnier_l1", 0.5), ("l2", 0.125)])
@pytest.mark.parametrize("region", ["all", "hole", "known"])
def test_pixel_loss_regions_count_only_their_pixels(name, per_value, region):
    """``hole`` counts the mask's pixels (in all three channels), ``known`` the rest, ``all`` every one."""
    loss = gfc_kit.create("loss", name, region=region)
    output, target = per_image_difference(0.5, 0.5)
    mask, hole = square_mask()
    pixels = {"all": H * W, "hole": hole, "known": H * W - hole}[region]
    assert loss(output, target, mask).item() == pytest.approx(3 * pixels * per_value, rel=1e-6)


def test_a_region_without_a_mask_counts_every_pixel():
    output, target = per_image_difference(0.5, 0.5)
    for region in ("hole", "known"):
        assert gfc_kit.create("loss", "l2", region=region)(output, target).item() == pytest.approx(PIXELS * 0.125)


def test_bce_generator_side_is_minus_log_sigmoid_averaged():
    """Non-saturating -log D(G(z)) on logits, averaged over the batch."""
    logits = [-2.0, 0.0, 1.5, 3.0]
    expected = sum(-math.log(sigmoid(x)) for x in logits) / len(logits)
    loss = gfc_kit.create("loss", "bce_adversarial", discriminator="local")
    assert loss.generator(torch.tensor(logits)).item() == pytest.approx(expected, rel=1e-6)
    assert loss.generator(torch.zeros(7)).item() == pytest.approx(math.log(2), rel=1e-6)


@pytest.mark.parametrize("real_label", [1.0, 0.9])
def test_bce_discriminator_side_scores_real_as_real_label_and_fake_as_zero(real_label):
    real, fake = [2.0, -0.5, 0.3], [-1.0, 0.7, 4.0]

    def bce(x: float, target: float) -> float:
        return -(target * math.log(sigmoid(x)) + (1 - target) * math.log(1 - sigmoid(x)))

    expected = sum(bce(x, real_label) for x in real) / 3 + sum(bce(x, 0.0) for x in fake) / 3
    loss = gfc_kit.create("loss", "bce_adversarial", discriminator="local", real_label=real_label)
    assert loss.discriminator(torch.tensor(real), torch.tensor(fake)).item() == pytest.approx(expected, rel=1e-6)


def test_parsing_cross_entropy_sums_over_pixels_and_averages_over_the_batch():
    """Uniform logits over 11 classes cost log 11 at every pixel, summed per image."""
    loss = gfc_kit.create("loss", "parsing_ce")
    logits = torch.zeros(N, 11, H, W)
    labels = torch.randint(0, 11, (N, H, W), generator=torch.Generator().manual_seed(0))
    assert loss(logits, labels).item() == pytest.approx(H * W * math.log(11), rel=1e-6)
    assert loss(torch.cat([logits, logits], 3), torch.cat([labels, labels], 2)).item() == pytest.approx(
        2 * H * W * math.log(11), rel=1e-6)


def test_parsing_cross_entropy_of_known_logits():
    """Per pixel -log softmax(logits)[label]; image 1 is certain and right, so costs ~0: mean = image 0 / 2."""
    logits = torch.zeros(2, 3, 1, 2)
    logits[0, :, 0, 0] = torch.tensor([1.0, 2.0, 3.0])  # label 0 there
    labels = torch.zeros(2, 1, 2, dtype=torch.long)
    logits[1, 0] = 100.0  # image 1: label 0 with certainty
    image0 = -math.log(math.exp(1) / (math.exp(1) + math.exp(2) + math.exp(3))) + math.log(3)
    assert gfc_kit.create("loss", "parsing_ce")(logits, labels).item() == pytest.approx(image0 / 2, rel=1e-6)
