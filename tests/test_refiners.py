"""Refiners and crop strategies: the photo's own detail brought into an enlarged fill, holes
completed at the photo's scale, and every pixel outside the blender's band kept byte for byte."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gfc_kit import create
from gfc_kit.components.blenders import distance_to_hole
from gfc_kit.errors import GfcError
from gfc_kit.frequency import detail_energy
from gfc_kit.inference import PhotoCompleter
from gfc_kit.inference.pipeline import hole_groups


def texture(height: int = 192, width: int = 192, period: int = 6) -> np.ndarray:
    """A periodic pattern (fine checks on a slow ramp), ``H×W×3`` float32 in [0, 1]."""
    y, x = np.mgrid[0:height, 0:width]
    fine = 0.25 * np.sin(2 * np.pi * x / period) * np.sin(2 * np.pi * y / period)
    return np.repeat((0.5 + fine + 0.1 * x / width)[..., None], 3, 2).astype(np.float32)


def enlarged(photo: np.ndarray, factor: int) -> np.ndarray:
    """What an enlarged model fill looks like: the photo at ``1/factor`` of its size, blown up."""
    tensor = torch.from_numpy(photo.transpose(2, 0, 1))[None]
    small = F.avg_pool2d(tensor, factor)
    return F.interpolate(small, scale_factor=factor, mode="bicubic")[0].permute(1, 2, 0).numpy()


def band_power(region: np.ndarray, period: int) -> float:
    """The spectrum's power at the pattern's frequency in ``region`` (first channel)."""
    values = region[..., 0] - region[..., 0].mean()
    spectrum = np.abs(np.fft.rfft2(values))
    fy, fx = round(values.shape[0] / period), round(values.shape[1] / period)
    return float(spectrum[fy - 1:fy + 2, fx - 1:fx + 2].max())


def detail_ratio(done: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    def energy(a):
        return detail_energy(torch.from_numpy(a.transpose(2, 0, 1))[None], 1.0)[0, 0].numpy()[hole].mean()
    return float(energy(done) / energy(truth))


def test_a_hole_in_a_periodic_pattern_gets_the_pattern_back():
    photo, factor = texture(), 8
    hole = np.zeros(photo.shape[:2], bool)
    hole[64:128, 64:128] = True
    fill = enlarged(photo, factor)
    refined = create("refiner", "residual")(photo, fill, hole, float(factor))
    assert np.array_equal(refined[~hole], fill[~hole])  # only the hole may change
    truth, before, after = (a[64:128, 64:128] for a in (photo, fill, refined))
    assert band_power(before, 6) < 0.05 * band_power(truth, 6)
    assert band_power(after, 6) > 0.5 * band_power(truth, 6)
    assert 0.7 < detail_ratio(np.where(hole[..., None], refined, photo), photo, hole) < 1.3
    assert np.abs(after - truth).mean() < 0.6 * np.abs(before - truth).mean()


def test_none_and_a_fill_at_the_photos_scale_are_left_alone():
    photo = texture(64, 64)
    hole = np.zeros((64, 64), bool)
    hole[20:40, 20:40] = True
    fill = enlarged(photo, 4)
    assert create("refiner", "none")(photo, fill, hole, 4.0) is fill
    assert create("refiner", "residual")(photo, fill, hole, 1.0) is fill  # nothing was lost to enlarging


@pytest.mark.parametrize("where", ["edge", "corner"])
def test_a_hole_at_the_photos_edge(where):
    photo, factor = texture(), 8
    hole = np.zeros(photo.shape[:2], bool)
    hole[64:128, :40] = True
    if where == "corner":
        hole[:] = False
        hole[:48, -48:] = True
    fill = enlarged(photo, factor)
    refined = create("refiner", "residual")(photo, fill, hole, float(factor))
    assert np.isfinite(refined).all() and np.array_equal(refined[~hole], fill[~hole])
    assert detail_ratio(np.where(hole[..., None], refined, photo), photo, hole) > 0.6


def test_several_holes_each_get_detail():
    photo, factor = texture(), 8
    hole = np.zeros(photo.shape[:2], bool)
    hole[16:48, 16:48] = hole[120:170, 100:140] = hole[60:70, 150:185] = True
    fill = enlarged(photo, factor)
    refined = create("refiner", "residual")(photo, fill, hole, float(factor))
    count, labels = __import__("cv2").connectedComponents(hole.astype(np.uint8))
    for part in range(1, count):
        one = labels == part
        assert detail_ratio(np.where(one[..., None], refined, photo), photo, one) > 0.6


def test_a_hole_with_no_context_keeps_the_fill_and_says_so(caplog):
    photo = texture(64, 64)
    hole = np.ones((64, 64), bool)
    hole[0, 0] = False  # one known pixel: not a single whole known block around the hole
    fill = enlarged(photo, 8)
    with caplog.at_level(logging.WARNING, logger="gfc_kit.complete"):
        refined = create("refiner", "residual")(photo, fill, hole, 8.0)
    assert np.array_equal(refined, fill)
    assert "no known context" in caplog.text


class Blur:
    """A "model" that fills its holes with the photo blurred to a sixteenth (an enlarged fill)."""

    image_size = 16
    layout = None
    size_multiple = 8
    max_side = 16

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def complete_tensor(self, image, mask, own_size=False):
        self.seen.append(tuple(image.shape[-2:]))
        return image * (1 - mask) + image.mean((2, 3), keepdim=True) * mask

    __call__ = complete_tensor


def photo_of(kind: str, height: int = 96, width: int = 128) -> np.ndarray:
    pattern = texture(height, width)
    if kind == "gray":
        return (pattern[..., 0] * 255).astype(np.uint8)
    if kind == "rgba":
        rgba = np.dstack([pattern * 255, np.full((height, width, 1), 200.0)]).astype(np.uint8)
        return rgba
    if kind == "16bit":
        return (pattern * 65535).astype(np.uint16)
    return (pattern * 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["rgb", "gray", "rgba", "16bit"])
@pytest.mark.parametrize("crop", ["hole", "original"])
def test_crops_keep_every_pixel_outside_the_band(kind, crop):
    photo = photo_of(kind)
    hole = np.zeros(photo.shape[:2], bool)
    hole[30:60, 40:80] = True
    hole[5:15, 110:120] = True
    blender = create("blender", "poisson")
    done = PhotoCompleter(Blur(), blender, crop=crop, crop_trigger=0, crop_margin=16)(photo, hole)
    assert done.dtype == photo.dtype and done.shape == photo.shape
    band = distance_to_hole(hole) <= blender.margin(hole)
    assert np.array_equal(done[~band], photo[~band])
    assert not np.array_equal(done[hole], photo[hole])


def test_the_hole_crop_completes_each_group_at_the_photos_scale():
    photo = photo_of("rgb", 200, 300)
    hole = np.zeros(photo.shape[:2], bool)
    hole[20:30, 20:30] = hole[26:34, 36:40] = True   # two parts whose crops overlap: one crop
    hole[150:160, 250:270] = True                      # far away: its own crop
    groups = hole_groups(hole, 8)
    assert sorted(box for box, _ in groups) == [(12, 12, 48, 42), (242, 142, 278, 168)]
    model = Blur()
    model.max_side = 1000  # never shrunk: each crop at its own size
    PhotoCompleter(model, create("blender", "paste"), crop="hole", crop_trigger=0, crop_margin=8)(photo, hole)
    assert sorted(model.seen) == [(26, 36), (30, 36)]


def test_a_crop_larger_than_the_model_takes_is_shrunk_and_refined():
    photo = photo_of("rgb", 128, 128)
    hole = np.zeros(photo.shape[:2], bool)
    hole[40:88, 40:88] = True
    model = Blur()  # max_side 16: the 128-px photo is completed at 16 px, 8x enlarged
    plain = PhotoCompleter(model, create("blender", "paste"), crop="original",
                           refiner=create("refiner", "none"))(photo, hole)
    refined = PhotoCompleter(model, create("blender", "paste"), crop="original")(photo, hole)
    assert model.seen == [(16, 16), (16, 16)]
    truth = photo.astype(np.float32) / 255
    assert (detail_ratio(refined.astype(np.float32) / 255, truth, hole)
            > 3 * detail_ratio(plain.astype(np.float32) / 255, truth, hole))


def test_crops_need_a_fully_convolutional_model_and_a_drawn_hole():
    photo = photo_of("rgb")
    hole = np.zeros(photo.shape[:2], bool)
    hole[10:20, 10:20] = True
    fixed = Blur()
    fixed.size_multiple = None
    with pytest.raises(GfcError, match="not fully convolutional"):
        PhotoCompleter(fixed, crop="hole")(photo, hole)
    with pytest.raises(GfcError, match="--region O1"):
        PhotoCompleter(Blur(), crop="hole")(photo, region="O1")


def test_the_detail_ratio_sees_a_blur():
    truth = torch.from_numpy(texture(64, 64).transpose(2, 0, 1))[None] * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    blurred = F.interpolate(F.avg_pool2d(truth, 4), scale_factor=4, mode="bilinear")
    detail = create("metric", "detail")
    assert float(detail(truth, truth, mask)) == pytest.approx(1.0)
    assert float(detail(blurred * mask + truth * (1 - mask), truth, mask)) < 0.2
    assert float(detail(truth * 2 - truth.mean(), truth, mask)) == pytest.approx(2.0, rel=0.01)


def test_the_high_frequency_loss_asks_for_detail_not_for_pixels():
    truth = torch.from_numpy(texture(64, 64).transpose(2, 0, 1))[None] * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    loss = create("loss", "high_frequency")
    shifted = torch.roll(truth, 3, dims=-1)  # the same texture, other pixels: little to pay
    blurred = F.interpolate(F.avg_pool2d(truth, 4), scale_factor=4, mode="bilinear")
    assert float(loss(truth, truth, mask)) == 0
    assert float(loss(shifted, truth, mask)) < 0.2 * float(loss(blurred, truth, mask))
    output = blurred.clone().requires_grad_(True)
    loss(output, truth, mask).backward()
    assert output.grad[..., :8, :8].abs().max() == 0  # region: hole only
    assert output.grad[..., 20:44, 20:44].abs().sum() > 0
