"""Completing photos of any size: align → hole in the layout → model → back-warp → blend, with
every pixel outside the blender's band kept byte for byte."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gfc_kit import create
from gfc_kit.commands.cli import cli
from gfc_kit.components.blenders import distance_to_hole
from gfc_kit.face_layout import CELEBA_CROP
from gfc_kit.inference import PhotoCompleter
from gfc_kit.inference.photos import read_photo, write_photo
from gfc_kit.interfaces import Face


NO_REFINER = create("refiner", "none")
"""These tests check what the model's fill becomes in the photo, so nothing refines it."""


class Identity:
    """A "model" that returns the image it is given: the view already holds the photo's true
    pixels in the hole, so what comes back measures the warps alone."""

    image_size = 64
    layout = CELEBA_CROP

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return image


class Flat:
    """A "model" that paints every hole mid-gray."""

    image_size = 64
    layout = CELEBA_CROP

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return image * (1 - mask)


class KnownFaces:
    """An aligner that "finds" faces at given similarity transforms."""

    def __init__(self, faces: list[Face]) -> None:
        self.faces = faces

    def __call__(self, photo: np.ndarray, layout) -> list[Face]:
        return self.faces


def face_at(centre: tuple[float, float], side: float, degrees: float) -> Face:
    """A face whose model square of ``side`` pixels is centred at ``centre``, turned by ``degrees``."""
    angle = np.deg2rad(degrees)
    scale = 1 / side
    linear = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    shift = np.array([0.5, 0.5]) - linear @ np.asarray(centre)
    to_layout = np.hstack([linear, shift[:, None]])
    corners = np.array([[0, 0, 1], [1, 1, 1]]) @ np.linalg.inv(np.vstack([to_layout, [0, 0, 1]]))[:2].T
    return Face((*corners.min(0), *corners.max(0)), np.full((5, 2), np.nan), to_layout)


def smooth_photo(height: int = 300, width: int = 400, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 image: smooth shapes and gradients, softened as a camera would."""
    import cv2

    rng = np.random.default_rng(seed)
    picture = np.zeros((height, width, 3), np.float32)
    yy, xx = np.mgrid[0:height, 0:width]
    picture += np.stack([xx / width, yy / height, 0.5 + 0.3 * np.sin(xx / 23.0)], -1)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(10, 60)
        picture[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.uniform(0, 1, 3)
    picture = cv2.GaussianBlur(picture, (0, 0), 1.5)
    return np.clip(picture * 255 + 0.5, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("degrees", [0.0, 12.0, -30.0])
@pytest.mark.parametrize("blend", ["paste", "feather", "poisson"])
def test_round_trip_keeps_the_photo(blend, degrees):
    """Identity model through align → back-warp → blend: the photo unchanged outside the blend
    band and within 2/255 inside it."""
    photo = smooth_photo()
    face = face_at((210.0, 140.0), 160.0, degrees)
    hole = np.zeros(photo.shape[:2], bool)
    hole[110:170, 170:250] = True
    done = PhotoCompleter(Identity(), create("blender", blend), KnownFaces([face]), refiner=NO_REFINER)(photo, hole)
    band = distance_to_hole(hole) <= create("blender", blend).margin(hole)
    assert np.array_equal(done[~band], photo[~band])
    error = np.abs(done.astype(int) - photo.astype(int))[band]
    assert error.max() <= 2, (error.max(), error.mean())


@pytest.mark.parametrize(("side", "view"), [(160.0, 64), (400.0, 64), (80.0, 320)])
def test_the_view_puts_each_point_where_the_transform_says(side, view):
    """A blob at a known photo pixel appears in the layout view at ``view × to_layout(p) - 0.5``
    (pixel centres at whole numbers), whether the view shrinks the face (area first) or enlarges it."""
    import cv2

    from gfc_kit.inference.warping import warp_to_layout

    photo = np.zeros((600, 700), np.float32)
    point = (331.0, 287.0)
    photo[int(point[1]), int(point[0])] = 1.0
    photo = cv2.GaussianBlur(photo, (0, 0), side / 40)
    face = face_at((350.0, 300.0), side, 30.0)
    seen = warp_to_layout(photo, face.to_layout, view)
    weight = np.where(seen > seen.max() / 2, seen, 0)
    yy, xx = np.mgrid[0:view, 0:view]
    centroid = np.array([(xx * weight).sum(), (yy * weight).sum()]) / weight.sum()
    expected = view * (face.to_layout @ np.array([*point, 1.0])) - 0.5
    assert np.abs(centroid - expected).max() <= 0.2, (centroid, expected)


def test_each_hole_goes_to_the_face_it_is_on():
    """Two faces, a hole on each: both are filled, each through its own face's view."""
    photo = smooth_photo(300, 600)
    faces = [face_at((150.0, 150.0), 200.0, 10.0), face_at((450.0, 150.0), 120.0, -20.0)]
    hole = np.zeros(photo.shape[:2], bool)
    hole[120:170, 120:180] = True
    hole[130:160, 430:470] = True
    done = PhotoCompleter(Flat(), create("blender", "paste"), KnownFaces(faces), refiner=NO_REFINER)(photo, hole)
    assert np.array_equal(done[~hole], photo[~hole])
    assert np.all(np.abs(done[hole].astype(int) - 128) <= 1)  # mid-gray from the flat model


def test_a_hole_on_no_face_and_a_photo_with_no_face_are_errors():
    from gfc_kit.errors import GfcError

    photo = smooth_photo()
    hole = np.zeros(photo.shape[:2], bool)
    hole[100:150, 100:150] = True
    faces = KnownFaces([face_at((300.0, 160.0), 80.0, 0.0)])
    with pytest.raises(GfcError, match="lies on no face"):
        PhotoCompleter(Flat(), aligner=faces)(photo, hole, name="p.jpg")
    with pytest.raises(GfcError, match="p.jpg: no face found"):
        PhotoCompleter(Flat(), aligner=KnownFaces([]))(photo, hole, name="p.jpg")
    plain = PhotoCompleter(Flat(), create("blender", "paste"), KnownFaces([]), no_face="plain")(photo, hole)
    assert np.array_equal(plain[~hole], photo[~hole]) and not np.array_equal(plain[hole], photo[hole])


def test_region_on_every_face():
    photo = smooth_photo(300, 600)
    faces = KnownFaces([face_at((150.0, 150.0), 200.0, 0.0), face_at((450.0, 150.0), 120.0, 25.0)])
    one = PhotoCompleter(Flat(), create("blender", "paste"), faces)(photo, region="O6")
    every = PhotoCompleter(Flat(), create("blender", "paste"), faces, faces="all")(photo, region="O6")
    changed_one = (one != photo).any(-1)
    changed_all = (every != photo).any(-1)
    assert changed_one[:, :300].any() and not changed_one[:, 300:].any()
    assert changed_all[:, 300:].any()


@pytest.mark.parametrize("kind", ["gray", "rgba", "gray16", "rgb16"])
def test_photo_kinds_keep_their_channels_depth_and_alpha(tmp_path, kind):
    import cv2

    rgb = smooth_photo(120, 100)
    photo = {"gray": rgb[..., 0], "rgba": np.dstack([rgb, np.arange(120 * 100).reshape(120, 100) % 256]).astype(np.uint8),
             "gray16": rgb[..., 1].astype(np.uint16) * 257 + 3, "rgb16": rgb.astype(np.uint16) * 257 + 5}[kind]
    path = write_photo(tmp_path / f"{kind}.png", photo)
    read = read_photo(path)
    assert read.dtype == photo.dtype and read.shape == photo.shape and np.array_equal(read, photo)
    hole = np.zeros(photo.shape[:2], bool)
    hole[40:70, 30:60] = True
    done = PhotoCompleter(Flat(), create("blender", "paste"))(read, hole)
    assert done.dtype == photo.dtype and done.shape == photo.shape
    assert np.array_equal(done[~hole], photo[~hole])
    if kind == "rgba":
        assert np.array_equal(done[..., 3], photo[..., 3])
    assert not np.array_equal(done[hole], photo[hole])
    del cv2


def test_exif_orientation_is_applied(tmp_path):
    rgb = smooth_photo(80, 120)
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # stored turned: shown rotated 90° clockwise
    image.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    assert read_photo(tmp_path / "turned.jpg").shape == (120, 80, 3)


def test_complete_a_folder_with_a_folder_of_masks(tmp_path):
    """``--mask FOLDER``: each photo's mask by stem; a photo without one is reported, the others
    completed at their own size, and the exit status says something failed."""
    from gfc_kit.inference import ModelCompleter  # noqa: F401  (the shipped model loads through the CLI)

    photos, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    photos.mkdir(), masks.mkdir()
    sizes = {"a": (218, 178), "b": (300, 260), "c": (200, 200)}
    for stem, (h, w) in sizes.items():
        Image.fromarray(smooth_photo(h, w, seed=len(stem))).save(photos / f"{stem}.png")
        if stem != "c":
            hole = np.zeros((h, w), np.uint8)
            hole[h // 2 - 15:h // 2 + 15, w // 2 - 20:w // 2 + 20] = 255
            Image.fromarray(hole).save(masks / f"{stem}.png")
    result = CliRunner().invoke(cli, ["complete", "--model", "gfc_celeba_cpu", "--input", str(photos),
                                      "--mask", str(masks), "--output", str(out)])
    assert result.exit_code == 2
    assert "c.png: no mask named c.*" in result.output
    for stem in "ab":
        before, after = read_photo(photos / f"{stem}.png"), read_photo(out / f"{stem}.png")
        assert after.shape == before.shape
        band = distance_to_hole(read_photo(masks / f"{stem}.png") > 127) <= 3
        assert np.array_equal(after[~band], before[~band]) and not np.array_equal(after[band], before[band])
    assert not (out / "c.png").exists()


@pytest.mark.parametrize("orientation", range(2, 9))
def test_16_bit_photos_turn_as_pillow_turns_8_bit_ones(tmp_path, orientation):
    """A 16-bit PNG with an EXIF orientation is turned exactly as Pillow's exif_transpose turns
    the same picture at 8 bits, so its mask (read through Pillow) lands on the same pixels."""
    from PIL import ImageOps

    picture = np.arange(2 * 3, dtype=np.uint16).reshape(2, 3) * 1000
    image = Image.fromarray(picture.astype(np.int32), mode="I")
    exif = image.getexif()
    exif[0x0112] = orientation
    Image.fromarray(picture).save(tmp_path / "p.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "p.png"))).astype(np.uint16)
    turned = read_photo(tmp_path / "p.png")
    assert turned.dtype == np.uint16 and np.array_equal(turned, expected)


def test_poisson_at_the_photo_edge_does_not_bring_the_hole_back():
    """A hole touching the border: what was under it must not bleed back through the padding."""
    photo = np.full((40, 40, 3), 0.2, np.float32)
    photo[10:30, :12] = 1.0  # the thing to remove, at the left edge
    hole = np.zeros((40, 40), bool)
    hole[10:30, :12] = True
    done = create("blender", "poisson")(photo, np.full_like(photo, 0.2), hole)
    assert np.abs(done - 0.2).max() < 0.02


def test_neighbouring_faces_keep_each_others_fills():
    """Two faces' holes within the blend band of each other: the second face's band must not
    undo the first's fill (each face sees the fills before it and keeps off the others' holes)."""
    photo = smooth_photo(300, 600)
    faces = [face_at((200.0, 150.0), 300.0, 0.0), face_at((420.0, 150.0), 300.0, 0.0)]
    hole = np.zeros(photo.shape[:2], bool)
    hole[120:170, 250:300] = True   # on the first face
    hole[120:170, 302:352] = True   # on the second, 2 px away
    done = PhotoCompleter(Flat(), create("blender", "feather"), KnownFaces(faces), refiner=NO_REFINER)(photo, hole)
    assert np.all(np.abs(done[hole].astype(int) - 128) <= 1)


def test_a_hole_of_another_size_is_one_error():
    from gfc_kit.errors import GfcError

    with pytest.raises(GfcError, match="the hole is 10×10, the photo 400×300"):
        PhotoCompleter(Flat())(smooth_photo(), np.ones((10, 10), bool))


def test_photos_sharing_a_stem_get_their_own_outputs(tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    for suffix in ("jpg", "png"):
        Image.fromarray(smooth_photo(218, 178)).save(photos / f"a.{suffix}")
    result = CliRunner().invoke(cli, ["complete", "--model", "gfc_celeba_cpu", "--input", str(photos), "--region",
                                      "O6", "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_jpg.png", "a_png.png"]


def test_a_mask_of_another_shape_is_refused(tmp_path):
    Image.fromarray(smooth_photo(300, 400)).save(tmp_path / "p.png")
    Image.fromarray(np.full((100, 100), 255, np.uint8)).save(tmp_path / "m.png")
    result = CliRunner().invoke(cli, ["complete", "--model", "gfc_celeba_cpu", "--input", str(tmp_path / "p.png"),
                                      "--mask", str(tmp_path / "m.png"), "--output", str(tmp_path / "out")])
    assert result.exit_code == 2 and "100×100 is not the shape of the 400×300 photo" in result.output


def test_a_layout_fit_recovers_a_known_similarity_and_ignores_missing_points():
    """``FaceLayout.transform`` is the least-squares similarity onto the layout: points placed by a
    known rotation, scale and shift give it back, NaN points (not found) are left out, and fewer
    than two points are an error."""
    from gfc_kit.errors import GfcError
    from gfc_kit.face_layout import fit_similarity

    face = face_at((210.0, 140.0), 160.0, 23.0)
    points = np.array(CELEBA_CROP.points)
    photo_points = np.c_[points, np.ones(5)] @ face.from_layout.T
    assert np.allclose(CELEBA_CROP.transform(photo_points), face.to_layout, atol=1e-9)
    photo_points[2:] = np.nan  # eyes only, as the 5-point predictor gives
    assert np.allclose(CELEBA_CROP.transform(photo_points), face.to_layout, atol=1e-9)
    assert np.isclose(Face.from_landmarks((0, 0, 1, 1), photo_points, CELEBA_CROP).side, 160.0)
    with pytest.raises(GfcError, match="at least two landmarks"):
        fit_similarity(np.full((5, 2), np.nan), points)
