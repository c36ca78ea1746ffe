"""synthetic_faces: the item contract, determinism, and that its labels and landmarks describe
its pixels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gfc_kit.components.datasets.synthetic_faces import SyntheticFaces
from gfc_kit.face_layout import MEAN_LANDMARKS
from gfc_kit.interfaces import PARSING_CLASSES

CLASS = {name: i for i, name in enumerate(PARSING_CLASSES)}


@pytest.fixture(scope="module")
def faces() -> list[dict]:
    dataset = SyntheticFaces(image_size=64, length=24, seed=0)
    return [dataset[i] for i in range(len(dataset))]


def test_item_contract():
    dataset = SyntheticFaces(image_size=32, length=3, seed=7)
    assert len(dataset) == 3
    item = dataset[2]
    assert set(item) == {"image", "labels", "landmarks", "path"}
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert item["image"].min() >= -1 and item["image"].max() <= 1
    assert item["labels"].shape == (32, 32) and item["labels"].dtype == torch.int64
    assert 0 <= item["labels"].min() and item["labels"].max() < len(PARSING_CLASSES)
    assert item["landmarks"].shape == (5, 2) and item["landmarks"].dtype == torch.float32
    assert item["path"] == "synthetic_faces/seed7/000002"


def test_batches_through_a_data_loader():
    loader = torch.utils.data.DataLoader(SyntheticFaces(image_size=32, length=4), batch_size=4)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["labels"].shape == (4, 32, 32)
    assert batch["landmarks"].shape == (4, 5, 2) and len(batch["path"]) == 4


def test_deterministic_per_seed_and_index():
    first, again = SyntheticFaces(image_size=48, seed=3)[5], SyntheticFaces(image_size=48, seed=3)[5]
    for key in ("image", "labels", "landmarks"):
        assert torch.equal(first[key], again[key])
    assert not torch.equal(first["image"], SyntheticFaces(image_size=48, seed=4)[5]["image"])
    assert not torch.equal(first["image"], SyntheticFaces(image_size=48, seed=3)[6]["image"])


def test_global_rng_is_untouched():
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    SyntheticFaces(image_size=32)[0]
    assert torch.equal(torch.rand(1), expected)


def test_index_out_of_range():
    dataset = SyntheticFaces(image_size=32, length=2)
    with pytest.raises(IndexError):
        dataset[2]
    assert torch.equal(dataset[-1]["image"], dataset[1]["image"])
    assert len(list(dataset)) == 2  # iteration stops at the IndexError


@pytest.mark.parametrize("size", [37, 128])
def test_any_resolution_draws_the_same_face(size):
    big, small = SyntheticFaces(image_size=size)[1], SyntheticFaces(image_size=64)[1]
    assert big["image"].shape == (3, size, size) and big["labels"].shape == (size, size)
    assert torch.allclose(big["landmarks"] + 0.5, (small["landmarks"] + 0.5) * size / 64, atol=1e-3)
    resized = F.interpolate(small["labels"][None, None].float(), size=(size, size), mode="nearest-exact")
    assert (resized[0, 0].long() == big["labels"]).float().mean() > 0.9


def test_landmark_order(faces):
    for item in faces:
        (lex, ley), (rex, rey), (nx, ny), (lmx, lmy), (rmx, rmy) = item["landmarks"].tolist()
        assert lex < nx < rex and lmx < rmx
        assert max(ley, rey) < ny < min(lmy, rmy)


def test_layout_matches_the_celeba_crop(faces):
    mean = torch.stack([item["landmarks"] for item in faces]).mean(0)
    assert torch.allclose((mean + 0.5) / 64, torch.tensor(MEAN_LANDMARKS), atol=0.03)


def _near(labels: torch.Tensor, point: torch.Tensor, radius: int) -> set[int]:
    x, y = (round(c) for c in point.tolist())
    return set(labels[max(y - radius, 0) : y + radius + 1, max(x - radius, 0) : x + radius + 1].unique().tolist())


def test_landmarks_lie_on_their_parts(faces):
    for item in faces:
        labels, points = item["labels"], item["landmarks"]
        assert CLASS["left_eye"] in _near(labels, points[0], 1)
        assert CLASS["right_eye"] in _near(labels, points[1], 1)
        assert CLASS["nose"] in _near(labels, points[2], 1)
        for corner in points[3:]:
            assert _near(labels, corner, 2) & {CLASS["upper_lip"], CLASS["lower_lip"], CLASS["inner_mouth"]}


def test_left_means_image_left(faces):
    for item in faces:
        xs = torch.arange(64).expand(64, 64)
        for left, right in (("left_eye", "right_eye"), ("left_brow", "right_brow")):
            a, b = item["labels"] == CLASS[left], item["labels"] == CLASS[right]
            if a.any() and b.any():
                assert xs[a].float().mean() < xs[b].float().mean()


def test_every_part_has_a_plausible_area(faces):
    brows = 0
    for item in faces:
        area = torch.bincount(item["labels"].flatten(), minlength=len(PARSING_CLASSES)).float() / 64**2
        assert 0.2 < area[CLASS["skin"]] < 0.7
        assert 0.03 < area[CLASS["hair"]] < 0.7
        for part in ("left_eye", "right_eye"):
            assert 0.002 < area[CLASS[part]] < 0.02
        assert 0.005 < area[CLASS["nose"]] < 0.05
        assert 0.0015 < area[CLASS["upper_lip"]] < 0.03 and 0.0015 < area[CLASS["lower_lip"]] < 0.03
        assert area[CLASS["inner_mouth"]] < 0.02
        brows += bool(area[CLASS["left_brow"]] > 0.001 and area[CLASS["right_brow"]] > 0.001)
    assert brows >= 0.8 * len(faces)  # a fringe may hide them
    assert sum(bool((item["labels"] == CLASS["inner_mouth"]).any()) for item in faces) >= 2


def test_labels_describe_pixels(faces):
    for item in faces:
        image, labels = item["image"], item["labels"]

        def mean(name: str) -> torch.Tensor:
            return image[:, labels == CLASS[name]].mean(1)

        skin = mean("skin")
        eyes = image[:, (labels == CLASS["left_eye"]) | (labels == CLASS["right_eye"])].mean(1)
        lips = image[:, (labels == CLASS["upper_lip"]) | (labels == CLASS["lower_lip"])].mean(1)
        assert (eyes - skin).norm() > 0.15
        assert (lips - skin).norm() > 0.1
        for brow in ("left_brow", "right_brow"):
            if (labels == CLASS[brow]).sum() >= 4:
                assert (mean(brow) - skin).norm() > 0.1
        # Pixels of one part are coloured alike: mostly within the spread of its own layer.
        face = image[:, labels == CLASS["skin"]]
        assert (face - skin[:, None]).abs().mean() < 0.25


def test_created_by_name():
    import gfc_kit

    dataset = gfc_kit.create("dataset", "synthetic_faces", image_size=32, length=4)
    assert len(dataset) == 4 and dataset[0]["image"].shape == (3, 32, 32)
