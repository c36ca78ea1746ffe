"""The built-in mask samplers: the tensor contract, determinism, and that each hole is where and
as large as its recipe says (boxes, O1–O6 and face parts, free-form strokes, mask files)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import torch

import gfc_kit
from PIL import Image

from gfc_kit.face_layout import MEAN_LANDMARKS
from gfc_kit.components.masks.boxes import (
    O_BOXES,
    PARTS,
    Center,
    RandomBox,
    RandomSquare,
    Region,
    Regions,
)
from gfc_kit.components.masks.free_form import FreeForm
from gfc_kit.components.masks.mask_folder import MaskFolder
from gfc_kit.errors import DataError, GfcError, RecipeError
from gfc_kit.registry import Registry, validate_params


def batch(n: int = 4, size: int = 32, **extra) -> dict:
    return {"image": torch.zeros(n, 3, size, size), **extra}


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def hole_box(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` of the hole in one ``1×H×W`` mask, end excluded."""
    ys, xs = mask[0].nonzero(as_tuple=True)
    return xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1


def centre(mask: torch.Tensor) -> tuple[float, float]:
    ys, xs = mask[0].nonzero(as_tuple=True)
    return xs.float().mean().item(), ys.float().mean().item()


@pytest.fixture
def mask_dir(tmp_path: Path) -> Path:
    """Four 16×16 white-hole masks: ``m<k>`` has its left ``k * 4`` columns white; one is RGB."""
    root = tmp_path / "masks"
    (root / "sub").mkdir(parents=True)
    for k in range(1, 5):
        image = Image.new("L", (16, 16), 0)
        image.paste(255, (0, 0, 4 * k, 16))
        folder = root / "sub" if k == 4 else root
        (image.convert("RGB") if k == 3 else image).save(folder / f"m{k}.png")
    (root / "notes.txt").write_text("not a mask")
    return root


def all_samplers(mask_dir: Path) -> list:
    return [
        RandomSquare(size=16),
        Center(),
        RandomBox(),
        Regions(region=["O1", "O6", "mouth"]),
        FreeForm(),
        MaskFolder(root=mask_dir),
    ]


# --- the contract every sampler keeps -----------------------------------------------------------


def test_every_sampler_keeps_the_tensor_contract(mask_dir: Path):
    landmarks = torch.tensor(MEAN_LANDMARKS).expand(3, 5, 2) * 48
    for sampler in all_samplers(mask_dir):
        mask = sampler(batch(3, 48, landmarks=landmarks), seeded(0))
        assert mask.shape == (3, 1, 48, 48) and mask.dtype == torch.float32, type(sampler).__name__
        assert set(mask.unique().tolist()) <= {0.0, 1.0} and mask.sum() > 0, type(sampler).__name__


def test_non_square_images_and_default_generator(mask_dir: Path):
    landmarks = torch.tensor(MEAN_LANDMARKS).expand(2, 5, 2) * torch.tensor([40.0, 24.0])
    image = {"image": torch.zeros(2, 3, 24, 40), "landmarks": landmarks}
    for sampler in all_samplers(mask_dir):
        assert sampler(image).shape == (2, 1, 24, 40), type(sampler).__name__


@pytest.mark.parametrize("index", [0, 2, 3, 4, 5])
def test_random_samplers_repeat_with_a_seed_and_vary_across_seeds(mask_dir: Path, index: int):
    sampler = all_samplers(mask_dir)[index]
    b = batch(6, 32, landmarks=torch.tensor(MEAN_LANDMARKS).expand(6, 5, 2) * 32)
    assert torch.equal(sampler(b, seeded(1)), sampler(b, seeded(1)))
    assert not torch.equal(sampler(b, seeded(1)), sampler(b, seeded(2)))


def test_every_sampler_registers_with_a_valid_signature(mask_dir: Path):
    registry = Registry()
    for sampler in all_samplers(mask_dir):
        registry.add("mask_sampler", "x" + str(len(registry)), type(sampler))
    assert all(entry.summary for entry in registry)


# --- random_square and center -------------------------------------------------------------------


def test_random_square_is_one_whole_square_inside_the_image():
    masks = RandomSquare(size=12)(batch(64, 32), seeded(0))
    for mask in masks:
        x0, y0, x1, y1 = hole_box(mask)
        assert (x1 - x0, y1 - y0) == (12, 12) and mask.sum() == 144
        assert 0 <= x0 and x1 <= 32 and 0 <= y0 and y1 <= 32
    corners = {hole_box(m)[:2] for m in masks}
    assert len(corners) > 30  # positions spread over the image


def test_sizes_are_pixels_or_fractions():
    assert RandomSquare(size=0.5)(batch(1, 64)).sum() == 32 * 32
    assert RandomSquare(size=64)(batch(1, 64)).sum() == 64 * 64
    with pytest.raises(GfcError, match="larger than the 32 px image"):
        RandomSquare(size=64)(batch(1, 32))
    with pytest.raises(RecipeError, match="size: a fraction"):
        validate_params(RandomSquare, {"size": 1.5}, ("masks", "train"))
    with pytest.raises(RecipeError, match="size: Input should be greater than 0"):
        validate_params(Center, {"size": 0})
    assert validate_params(Center, {"size": "0.25"})["size"] == 0.25


def test_random_box_sides_span_the_range_in_both_directions():
    masks = RandomBox(min_size=0.25, max_size=0.75)(batch(300, 32), seeded(0))
    sides = torch.tensor([[x1 - x0, y1 - y0] for x0, y0, x1, y1 in map(hole_box, masks)])
    assert sides.min() == 8 and sides.max() == 24
    assert (sides[:, 0] != sides[:, 1]).float().mean() > 0.8  # rectangles, not squares
    assert torch.equal(masks.sum((1, 2, 3)), sides.prod(1).float())  # one whole box each


def test_random_box_range_must_be_ordered():
    with pytest.raises(GfcError, match="min_size 0.5 is larger than max_size 0.25"):
        RandomBox(min_size=0.5, max_size=0.25)(batch(1, 32))


def test_center_is_centred():
    mask = Center(size=0.5)(batch(2, 32))
    assert hole_box(mask[0]) == hole_box(mask[1]) == (8, 8, 24, 24)
    assert hole_box(Center(size=5)(batch(1, 32))[0]) == (13, 13, 18, 18)


# --- regions: O1–O6 -----------------------------------------------------------------------------


def test_region_names_match_the_tables():
    assert set(get_args(Region)) == set(O_BOXES) | set(PARTS)


def test_o_boxes_are_where_their_names_say():
    size = 64
    masks = {name: Regions(region=name)(batch(1, size))[0] for name in O_BOXES}
    assert all(m.sum() > 0 for m in masks.values())
    cx = {name: centre(m)[0] for name, m in masks.items()}
    cy = {name: centre(m)[1] for name, m in masks.items()}
    assert cx["O1"] < cx["O2"] and cx["O4"] < cx["O5"] and cy["O3"] < cy["O6"]

    def covers(name: str, *points: int) -> bool:
        return all(masks[name][0, round(MEAN_LANDMARKS[i][1] * size), round(MEAN_LANDMARKS[i][0] * size)] == 1
                   for i in points)

    left_eye, right_eye, nose, left_mouth, right_mouth = range(5)
    assert covers("O1", left_eye) and not covers("O1", right_eye)
    assert covers("O2", right_eye) and not covers("O2", left_eye)
    assert covers("O3", left_eye, right_eye) and not covers("O3", nose)
    assert covers("O4", left_eye, left_mouth) and not covers("O4", right_eye)
    assert covers("O5", right_eye, right_mouth) and not covers("O5", left_eye)
    assert covers("O6", nose, left_mouth, right_mouth) and not covers("O6", left_eye)


def test_a_list_of_regions_draws_one_per_image():
    sampler = Regions(region=["O1", "O2"])
    masks = sampler(batch(32, 32), seeded(0))
    kinds = {hole_box(m) for m in masks}
    assert kinds == {hole_box(Regions(region=r)(batch(1, 32))[0]) for r in ("O1", "O2")}


def test_region_names_are_checked_by_the_recipe():
    with pytest.raises(RecipeError, match="masks.eval.region"):
        validate_params(Regions, {"region": "O7"}, ("masks", "eval"))
    with pytest.raises(RecipeError, match="at least one region"):
        validate_params(Regions, {"region": []})
    assert validate_params(Regions, {"region": ["O1", "nose"]})["region"] == ["O1", "nose"]


# --- regions: face parts ------------------------------------------------------------------------


def label_map() -> torch.Tensor:
    """A 32×32 face: left eye (4) at rows 10–11, cols 6–10; upper lip (7) and lower lip (9)."""
    labels = torch.ones(32, 32, dtype=torch.int64)
    labels[10:12, 6:11] = 4
    labels[22:24, 10:20] = 7
    labels[24:26, 11:19] = 9
    return labels


def test_parts_from_labels_are_the_part_s_bounding_box_grown_by_margin():
    b = batch(1, 32, labels=label_map()[None])
    assert hole_box(Regions(region="left_eye", margin=0)(b)[0]) == (6, 10, 11, 12)
    assert hole_box(Regions(region="left_eye", margin=2 / 32)(b)[0]) == (4, 8, 13, 14)
    assert hole_box(Regions(region="mouth", margin=0)(b)[0]) == (10, 22, 20, 26)
    assert Regions(region="left_eye", margin=0)(b).sum() == 5 * 2


def test_a_part_missing_from_the_labels_falls_back_to_landmarks_then_the_mean_face():
    labels = label_map()[None]  # no right eye
    points = torch.tensor([[8.0, 11.0], [22.0, 11.0], [15.0, 17.0], [11.0, 24.0], [19.0, 24.0]])[None]
    from_points = Regions(region="right_eye", margin=0)(batch(1, 32, labels=labels, landmarks=points))[0]
    assert from_points[0, 11, 22] == 1 and from_points[0, 11, 8] == 0
    mean_face = Regions(region="right_eye", margin=0)(batch(1, 32, labels=labels))[0]
    x, y = MEAN_LANDMARKS[1]
    assert mean_face[0, round(y * 32), round(x * 32)] == 1


def test_parts_from_landmarks_surround_their_points():
    size = 64
    points = torch.tensor(MEAN_LANDMARKS)[None] * size
    b = batch(1, size, landmarks=points)

    def hole(name: str) -> torch.Tensor:
        return Regions(region=name)(b)[0, 0]

    def on(mask: torch.Tensor, i: int) -> bool:
        return mask[round(points[0, i, 1].item()), round(points[0, i, 0].item())] == 1

    assert on(hole("left_eye"), 0) and not on(hole("left_eye"), 1)
    assert on(hole("eyes"), 0) and on(hole("eyes"), 1) and not on(hole("eyes"), 2)
    assert on(hole("nose"), 2) and on(hole("mouth"), 3) and on(hole("mouth"), 4) and not on(hole("mouth"), 2)
    brow_rows = hole("left_brow").nonzero()[:, 0]
    assert brow_rows.max() < points[0, 0, 1] and hole("brows").sum() > hole("right_brow").sum()


def test_a_part_without_labels_or_landmarks_is_a_data_error():
    with pytest.raises(DataError, match="'nose' needs 'labels' or 'landmarks'"):
        Regions(region=["O1", "nose"])(batch(2, 32))


# --- free_form ----------------------------------------------------------------------------------


@pytest.mark.parametrize("area", [(0.1, 0.4), (0.02, 0.08)])
def test_free_form_hole_fractions_stay_in_the_area(area: tuple[float, float]):
    fractions = FreeForm(area=area)(batch(50, 64), seeded(3)).mean((1, 2, 3))
    assert ((fractions >= area[0]) & (fractions <= area[1])).all(), fractions
    assert fractions.max() - fractions.min() > (area[1] - area[0]) / 3  # spread over the range


def test_free_form_is_strokes_not_a_box():
    mask = FreeForm(area=(0.1, 0.2))(batch(1, 64), seeded(0))[0]
    x0, y0, x1, y1 = hole_box(mask)
    assert mask.sum() < 0.8 * (x1 - x0) * (y1 - y0)


def test_free_form_area_must_be_ordered():
    for area in ((0.4, 0.1), (0.5, 1.5)):
        with pytest.raises(RecipeError, match="area: "):
            validate_params(FreeForm, {"area": area})


# --- mask_folder --------------------------------------------------------------------------------


def test_mask_folder_reads_both_polarities(mask_dir: Path):
    white = MaskFolder(root=mask_dir, order="paired")
    black = MaskFolder(root=mask_dir, order="paired", polarity="black_hole")
    b = batch(4, 16, path=[f"faces/m{k}.jpg" for k in range(1, 5)])
    fractions = white(b).mean((1, 2, 3)).tolist()
    assert fractions == [0.25, 0.5, 0.75, 1.0]  # the RGB one (m3) and the nested one (m4) included
    assert torch.equal(black(b), 1 - white(b))


def test_mask_folder_resizes_by_area_and_keeps_the_hole_fraction(mask_dir: Path):
    masks = MaskFolder(root=mask_dir, order="paired")(batch(2, 8, path=["m1.png", "m2.png"]))
    assert masks.mean((1, 2, 3)).tolist() == [0.25, 0.5]
    assert masks[0, 0, :, :2].all() and not masks[0, 0, :, 2:].any()


def test_mask_folder_random_draws_files_with_the_generator(mask_dir: Path):
    sampler = MaskFolder(root=mask_dir, pattern="m[12]*")
    assert [p.name for p in sampler.files] == ["m1.png", "m2.png"]
    drawn = {round(f, 2) for f in sampler(batch(16, 16), seeded(0)).mean((1, 2, 3)).tolist()}
    assert drawn == {0.25, 0.5}


def test_mask_folder_reads_lazily_and_caches(mask_dir: Path):
    sampler = MaskFolder(root=mask_dir)
    assert not sampler._cache
    sampler(batch(2, 16), seeded(0))
    assert 1 <= len(sampler._cache) <= 2


def test_mask_folder_errors_name_the_path(mask_dir: Path, tmp_path: Path):
    with pytest.raises(DataError, match="nowhere: no such folder"):
        MaskFolder(root=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no images matching"):
        MaskFolder(root=tmp_path / "empty")
    with pytest.raises(DataError, match=r"no mask named face7\.\* for image faces/face7\.jpg"):
        MaskFolder(root=mask_dir, order="paired")(batch(1, 16, path=["faces/face7.jpg"]))
    with pytest.raises(DataError, match="needs 'path' in the batch"):
        MaskFolder(root=mask_dir, order="paired")(batch(1, 16))
    (mask_dir / "sub" / "m1.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"m1\.png and .*m1\.png share a stem"):
        MaskFolder(root=mask_dir, order="paired")
    with pytest.raises(DataError, match=r"sub/m1\.png: cannot read mask"):
        MaskFolder(root=mask_dir / "sub", order="paired")(batch(1, 16, path=["m1.jpg"]))


def test_nvidia_irregular_masks_keep_their_hole_ratio_bin(shared_data: Path):
    sampler = MaskFolder(root=shared_data / "masks" / "irregular", order="paired")
    stems = ["00000", "02000", "04000", "06000", "08000", "10000"]
    fractions = sampler(batch(6, 128, path=[f"{s}.jpg" for s in stems])).mean((1, 2, 3)).tolist()
    for stem, fraction in zip(stems, fractions):
        bin_ = int(stem) // 2000  # (0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6]
        low, high = (0.01, 0.1) if bin_ == 0 else (bin_ / 10, (bin_ + 1) / 10)
        assert low < fraction <= high, (stem, fraction)


# --- through the public API ---------------------------------------------------------------------


def test_create_builds_every_mask_sampler(mask_dir: Path):
    import gfc_kit

    samplers = [
        gfc_kit.create("mask_sampler", "random_square", size=16),
        gfc_kit.create("mask_sampler", "center", size=0.25),
        gfc_kit.create("mask_sampler", "regions", region=["O1", "O3"]),
        gfc_kit.create("mask_sampler", "free_form", area=[0.1, 0.3]),
        gfc_kit.create("mask_sampler", "mask_folder", root=str(mask_dir)),
    ]
    for sampler in samplers:
        assert sampler(batch(2, 32), seeded(0)).shape == (2, 1, 32, 32)


def test_mask_folder_reads_0_1_mask_files_as_holes(tmp_path: Path):
    """A PNG that stores the hole as 1 (not 255) is a hole, not an empty mask."""
    pixels = np.zeros((16, 16), dtype=np.uint8)
    pixels[:8] = 1
    Image.fromarray(pixels).save(tmp_path / "m.png")
    mask = MaskFolder(root=tmp_path)(batch(1, 16), seeded(0))
    assert mask.mean() == 0.5 and mask[0, 0, :8].all()


def test_mixture_draws_each_images_hole_from_one_sampler_by_weight():
    """Boxes and brush strokes in one batch: each mask is exactly what one of the samplers draws,
    the weights set how often, and a seed gives the same masks."""
    mixture = gfc_kit.create("mask_sampler", "mixture", samplers=[
        {"type": "center", "size": 0.5}, {"type": "free_form", "area": [0.05, 0.2]}], weights=[3, 1])
    batch = {"image": torch.zeros(64, 3, 32, 32)}
    masks = mixture(batch, torch.Generator().manual_seed(0))
    again = mixture(batch, torch.Generator().manual_seed(0))
    assert torch.equal(masks, again)
    centre = gfc_kit.create("mask_sampler", "center", size=0.5)({"image": torch.zeros(1, 3, 32, 32)})[0]
    is_centre = torch.tensor([torch.equal(m, centre) for m in masks])
    assert 0.6 < is_centre.float().mean() < 0.9  # 3 : 1
    assert all(0.04 <= m.mean() <= 0.21 for m in masks[~is_centre])  # the strokes' area range


def test_mixture_errors_name_the_sampler():
    with pytest.raises(gfc_kit.GfcError, match="samplers.1.type: unknown mask_sampler 'boxes'"):
        gfc_kit.create("mask_sampler", "mixture", samplers=[{"type": "center"}, {"type": "boxes"}])
    with pytest.raises(gfc_kit.GfcError, match="weights: 1 given for 2 samplers"):
        gfc_kit.create("mask_sampler", "mixture", samplers=[{"type": "center"}, {"type": "free_form"}], weights=[1])
