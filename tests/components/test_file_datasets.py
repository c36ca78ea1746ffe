"""celeba, image_folder and parsing_folder: reading, cropping, labels, landmarks, bad files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gfc_kit
from gfc_kit.components.datasets.files import Augmentation, augment
from gfc_kit.errors import DataError


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def fake_celeba(tmp_path) -> Path:
    """A tiny img_align_celeba look-alike (178×218 noise) with a split file and landmarks."""
    root = tmp_path / "Img" / "img_align_celeba"
    for i in range(1, 7):
        save(root / f"{i:06d}.jpg", noise(218, 178, i))
    (tmp_path / "Eval").mkdir()
    (tmp_path / "Eval" / "list_eval_partition.txt").write_text(
        "".join(f"{i:06d}.jpg {s}\n" for i, s in zip(range(1, 7), [0, 0, 0, 1, 2, 2])))
    (tmp_path / "landmarks.txt").write_text(
        "2\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y\n"
        "000001.jpg 69 111 108 111 88 135 71 152 106 152\n000002.jpg 30 40 167 177 88 135 71 152 106 152\n")
    return root


def test_celeba_reads_the_shared_faces_as_128px_images_in_range(shared_data):
    dataset = gfc_kit.create("dataset", "celeba", root=shared_data / "faces" / "celeba", image_size=128)
    assert len(dataset) == 4591
    for index in (0, 1234, 4590):
        image = dataset[index]["image"]
        assert image.shape == (3, 128, 128) and image.dtype == torch.float32
        assert -1 <= image.min() < image.max() <= 1
    half = gfc_kit.create("dataset", "celeba", root=shared_data / "faces" / "celeba_89x109", image_size=64, limit=3)
    assert half[0]["image"].shape == (3, 64, 64)


def test_celeba_crop_is_crop_celeba_lua_box(fake_celeba):
    dataset = gfc_kit.create("dataset", "celeba", root=fake_celeba, image_size=138)
    raw = np.asarray(Image.open(fake_celeba / "000001.jpg"), dtype=np.float32)
    expected = torch.from_numpy(raw[40:178, 30:168]).permute(2, 0, 1) / 127.5 - 1
    assert torch.allclose(dataset[0]["image"], expected, atol=1e-5)


def test_celeba_zoom_scales_the_crop_about_its_centre(fake_celeba):
    closer = gfc_kit.create("dataset", "celeba", root=fake_celeba, image_size=46, zoom=3.0)
    raw = np.asarray(Image.open(fake_celeba / "000001.jpg"), dtype=np.float32)
    expected = torch.from_numpy(raw[86:132, 76:122]).permute(2, 0, 1) / 127.5 - 1  # 46 px around (99, 109)
    assert torch.allclose(closer[0]["image"], expected, atol=1e-5)
    wider = gfc_kit.create("dataset", "celeba", root=fake_celeba, image_size=64, zoom=0.5)
    assert wider[0]["image"].shape == (3, 64, 64)  # the box leaves the image: edges repeated


def test_celeba_splits_and_landmarks(fake_celeba):
    assert len(gfc_kit.create("dataset", "celeba", root=fake_celeba, split="train")) == 3
    assert len(gfc_kit.create("dataset", "celeba", root=fake_celeba, split="test")) == 2
    dataset = gfc_kit.create("dataset", "celeba", root=fake_celeba, image_size=69,
                             landmarks_file=fake_celeba.parents[1] / "landmarks.txt")
    assert len(dataset) == 2  # only the images with landmarks
    # the crop box corners (30, 40) and (167, 177) map to the first and last output pixels' centres
    corners = dataset[1]["landmarks"][:2]
    assert torch.allclose(corners, torch.tensor([[-0.25, -0.25], [68.25, 68.25]]), atol=1e-4)


def test_celeba_errors_name_the_path(tmp_path, fake_celeba):
    with pytest.raises(DataError, match="CelebA not found.*gfc-kit run quickstart"):
        gfc_kit.create("dataset", "celeba", root=tmp_path / "nowhere")
    (fake_celeba.parents[1] / "Eval" / "list_eval_partition.txt").unlink()
    with pytest.raises(DataError, match="no images of the 'val' split"):
        gfc_kit.create("dataset", "celeba", root=fake_celeba, split="val")  # ids 1-6 are all train


def test_celeba_splits_by_official_id_ranges_without_a_partition_file(fake_celeba):
    (fake_celeba.parents[1] / "Eval" / "list_eval_partition.txt").unlink()
    assert len(gfc_kit.create("dataset", "celeba", root=fake_celeba, split="train")) == 6  # ids 1-6 are train


def test_celeba_identity_split_keeps_each_person_in_one_split(shared_data):
    from gfc_kit.components.datasets.celeba import read_identities

    identity_file = shared_data / "annotations" / "identity_CelebA.txt"
    identities = read_identities(identity_file)
    people = {}
    for split in ("train", "val", "test"):
        dataset = gfc_kit.create("dataset", "celeba", root=shared_data / "faces" / "celeba", split=split,
                                 identity_file=identity_file)
        people[split] = {identities[f.name] for f in dataset.files}
    assert people["test"] and people["val"] and len(people["train"]) > len(people["test"])
    assert not (people["train"] & people["test"]) and not (people["train"] & people["val"])
    assert not (people["val"] & people["test"])


def test_celeba_reads_several_folders_as_one_split_by_person(shared_data):
    """The originals and the half-size copies together: each cropped at its own scale, and a
    person held out of one folder is held out of the other (the shipped model's training set)."""
    from gfc_kit.components.datasets.celeba import read_identities

    identity_file = shared_data / "annotations" / "identity_CelebA.txt"
    identities = read_identities(identity_file)
    roots = [shared_data / "faces" / "celeba", shared_data / "faces" / "celeba_89x109"]
    people = {}
    for split in ("train", "test"):
        dataset = gfc_kit.create("dataset", "celeba", root=roots, split=split, identity_file=identity_file,
                                 image_size=32)
        people[split] = {identities[f.name] for f in dataset.files}
        assert {f.parent.name for f in dataset.files} == {"celeba", "celeba_89x109"}
        assert dataset[0]["image"].shape == dataset[len(dataset) - 1]["image"].shape == (3, 32, 32)
    assert people["test"] and not people["train"] & people["test"]


def test_celeba_folders_in_a_list_are_each_checked(tmp_path, fake_celeba):
    dataset = gfc_kit.create("dataset", "celeba", root=[fake_celeba, fake_celeba], split="train")
    assert len(dataset) == 6
    with pytest.raises(DataError, match=f"{tmp_path / 'nowhere'}: CelebA not found"):
        gfc_kit.create("dataset", "celeba", root=[fake_celeba, tmp_path / "nowhere"])


def test_celeba_identity_file_errors_name_the_file(tmp_path, fake_celeba):
    with pytest.raises(DataError, match="identity file not found"):
        gfc_kit.create("dataset", "celeba", root=fake_celeba, split="test", identity_file=tmp_path / "ids.txt")
    (tmp_path / "ids.txt").write_text("000001.jpg 7\n")
    with pytest.raises(DataError, match="000002.jpg: not in the identity file"):
        gfc_kit.create("dataset", "celeba", root=fake_celeba, split="test", identity_file=tmp_path / "ids.txt")


def test_unreadable_images_are_skipped_and_counted(tmp_path, caplog):
    save(tmp_path / "a.png", noise(40, 50))
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg at all")
    save(tmp_path / "c.png", noise(50, 40, 1))
    dataset = gfc_kit.create("dataset", "image_folder", root=tmp_path, image_size=16)
    with caplog.at_level(logging.WARNING, logger="gfc_kit.data"):
        items = [dataset[i] for i in range(3)]
    assert [Path(i["path"]).name for i in items] == ["a.png", "c.png", "c.png"]
    assert "skipped unreadable image" in caplog.text and "b.jpg" in caplog.text and "(1 skipped" in caplog.text


def test_empty_or_missing_folders_are_errors_naming_the_path(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path}: no images matching"):
        gfc_kit.create("dataset", "image_folder", root=tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        gfc_kit.create("dataset", "image_folder", root=tmp_path / "x")


@pytest.mark.parametrize("fit", ["center_crop", "resize", "pad"])
def test_image_folder_makes_any_image_square(tmp_path, fit):
    array = np.zeros((20, 60, 3), dtype=np.uint8)
    array[:, 20:40] = 255  # a white centre third
    save(tmp_path / "wide.png", array)
    image = gfc_kit.create("dataset", "image_folder", root=tmp_path, image_size=30, fit=fit)[0]["image"]
    assert image.shape == (3, 30, 30)
    white = (image[0] > 0).float().mean().item()
    assert white == pytest.approx({"center_crop": 1.0, "resize": 1 / 3, "pad": 1 / 3}[fit], abs=0.07)


def test_parsing_folder_maps_labels_and_pairs_by_stem(tmp_path):
    labels = np.zeros((8, 8), dtype=np.uint8)
    labels[:, 4:] = 13  # CelebAMask-HQ hair
    labels[2, 1] = 4  # CelebAMask-HQ l_eye, i.e. the person's left = image-right -> our right_eye (5)
    save(tmp_path / "images" / "x.png", noise(16, 16))
    save(tmp_path / "images" / "unlabelled.png", noise(16, 16))
    save(tmp_path / "labels" / "x.png", labels)
    dataset = gfc_kit.create("dataset", "parsing_folder", root=tmp_path, image_size=16, label_map="celebamask_hq")
    assert len(dataset) == 1
    item = dataset[0]
    assert item["labels"].shape == (16, 16) and item["labels"].dtype == torch.int64
    assert set(item["labels"].unique().tolist()) == {0, 5, 10}


def test_parsing_folder_keeps_each_image_with_its_labels_after_leaving_out_a_bad_one(tmp_path):
    """Leaving out an unreadable image (the check before a run) must not shift the labels."""
    for i, stem in enumerate(("a", "b", "c")):
        save(tmp_path / "labels" / f"{stem}.png", np.full((8, 8), i + 1, dtype=np.uint8))
        save(tmp_path / "images" / f"{stem}.png", noise(8, 8))
    (tmp_path / "images" / "a.png").write_bytes(b"not a png")
    dataset = gfc_kit.create("dataset", "parsing_folder", root=tmp_path, image_size=8)
    assert dataset.check() == 1
    assert [int(dataset[i]["labels"].unique()) for i in range(2)] == [2, 3]  # b's and c's own labels


def test_celebamask_hq_eyes_come_out_image_left_and_right(shared_data):
    dataset = gfc_kit.create("dataset", "parsing_folder", root=shared_data / "parsing" / "celebamask_hq",
                             label_map="celebamask_hq", image_size=128)
    for item in dataset:
        xs = {c: torch.nonzero(item["labels"] == c)[:, 1].float().mean() for c in (2, 3, 4, 5)}
        assert xs[4] < xs[5] and xs[2] < xs[3]


def test_augmentation_moves_image_labels_and_landmarks_together():
    size = 64
    image = torch.full((3, size, size), -1.0)
    labels = torch.zeros(size, size, dtype=torch.long)
    points = torch.tensor([[20.0, 30], [44, 30], [32, 40], [24, 50], [40, 50]])
    for k, (x, y) in enumerate(points.long().tolist()):
        image[:, y - 1 : y + 2, x - 1 : x + 2] = 1.0
        labels[y - 1 : y + 2, x - 1 : x + 2] = k + 1
    flips = 0
    for seed in range(12):
        out = augment({"image": image, "labels": labels, "landmarks": points}, Augmentation(),
                      torch.Generator().manual_seed(seed))
        for x, y in out["landmarks"].round().long().tolist():
            assert out["image"][0, y, x] > 0  # every landmark still sits on its bright dot
        left_eye, right_eye = out["landmarks"][:2]
        assert left_eye[0] < right_eye[0]  # a flip swaps the points, so "left" stays image-left
        # flipped: the right eye's dot (label 2) is now image-left, and a flip maps class 2 to 3
        flips += int(out["labels"][int(left_eye[1].round()), int(left_eye[0].round())] == 3)
    assert 0 < flips < 12


def test_zoom_augmentation_keeps_landmarks_on_their_dots_and_leaves_other_recipes_alone():
    """``scale`` zooms image and landmarks together; with the default (1, 1) no extra random number
    is drawn, so recipes without it see exactly the augmentations they saw before."""
    size = 64
    image = torch.full((3, size, size), -1.0)
    points = torch.tensor([[20.0, 30], [44, 30], [32, 40], [24, 50], [40, 50]])
    for x, y in points.long().tolist():
        image[:, y - 1 : y + 2, x - 1 : x + 2] = 1.0
    spreads = []
    for seed in range(8):
        out = augment({"image": image, "landmarks": points}, Augmentation(scale=(0.8, 1.3), rotation=0, shift=0),
                      torch.Generator().manual_seed(seed))
        for x, y in out["landmarks"].round().long().tolist():
            assert out["image"][0, y, x] > 0
        spreads.append(float(out["landmarks"][1, 0] - out["landmarks"][0, 0]))
    assert min(spreads) < 24 * 0.95 and max(spreads) > 24 * 1.05  # the eyes moved apart and together
    plain = [augment({"image": image}, Augmentation(), torch.Generator().manual_seed(3))["image"] for _ in range(2)]
    generator = torch.Generator().manual_seed(3)
    augment({"image": image}, Augmentation(), generator)
    assert torch.equal(plain[0], plain[1]) and generator.initial_seed() == 3
    assert torch.rand(1, generator=generator).item() == torch.rand(
        5, generator=torch.Generator().manual_seed(3))[4].item()  # four numbers drawn, as before
