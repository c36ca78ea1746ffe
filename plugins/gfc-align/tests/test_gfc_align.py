"""The dlib aligner on real CelebA photos, ``gfc-kit align`` and the ``aligned_faces`` dataset."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("dlib", reason="gfc-align needs dlib: pip install dlib-bin face-recognition-models")

import cv2

from gfc_kit.errors import GfcError
from gfc_kit.face_layout import CELEBA_CROP, POINT_NAMES

PLUGIN = Path(__file__).resolve().parents[1]
SHARED_DATA = PLUGIN.parents[1].parent / "shared" / "data"
sys.path.insert(0, str(PLUGIN))

from gfc_align import plugin
from gfc_align.aligner import DlibAligner, five_points
from gfc_align.dataset import AlignedFaces

CELEBA = SHARED_DATA / "faces" / "celeba"
NONFACE = SHARED_DATA / "nonface" / "bsds500" / "images" / "100075.jpg"
LANDMARKS = SHARED_DATA / "annotations" / "list_landmarks_align_celeba_000001-000330.csv"


@pytest.fixture(scope="module")
def data() -> Path:
    """``shared/data`` beside the checkout (research-only photos; never copied into the repo)."""
    if not CELEBA.is_dir() or not NONFACE.is_file():
        pytest.skip(f"real test photos not found under {SHARED_DATA} (faces/celeba, nonface/bsds500)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def aligner() -> DlibAligner:
    return DlibAligner()


@pytest.fixture
def registered():
    """gfc-align registered in-process (the root conftest keeps installed plugins out)."""
    from gfc_kit import plugins

    plugins.reset()
    plugins.register(plugin, "gfc_align")
    yield plugins
    plugins.reset()


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def in_layout(face, points: np.ndarray | None = None) -> np.ndarray:
    """``points`` (the face's own by default) in the layout's unit square."""
    points = face.landmarks if points is None else points
    return points @ face.to_layout[:, :2].T + face.to_layout[:, 2]


def angle(face) -> float:
    """The rotation of ``to_layout`` in degrees."""
    return float(np.degrees(np.arctan2(face.to_layout[1, 0], face.to_layout[0, 0])))


def celeba_photos(limit: int = 330) -> list[Path]:
    return sorted(p for p in CELEBA.glob("*.jpg") if int(p.stem) <= limit)


@pytest.fixture(scope="module")
def celeba_faces(data, aligner) -> dict[str, list]:
    """The faces found in the CelebA photos with ids up to 330 (those with annotations), by file name."""
    return {path.name: aligner(read(path), CELEBA_CROP) for path in celeba_photos()}


def test_faces_land_on_the_celeba_layout(celeba_faces):
    """Warped by its transform, each CelebA face's five points sit near the layout's (which is
    CelebA's annotated mean): a few % of the side. Two of the 43 photos are near-profile faces
    that HOG's frontal detector misses."""
    errors = []
    for name, faces in celeba_faces.items():
        if faces:
            assert len(faces) == 1, name
            errors.append(np.linalg.norm(in_layout(faces[0]) - np.array(CELEBA_CROP.points), axis=1).mean())
    assert len(errors) >= 0.9 * len(celeba_faces)
    assert np.mean(errors) < 0.035 and max(errors) < 0.08


def test_dlib_points_agree_with_celeba_annotations(celeba_faces):
    """dlib's 68-point mapping (eye = mean of its 6 contour points) against CelebA's own 5-point
    annotations on the 178×218 photos: within about 2 px per point on average."""
    if not LANDMARKS.is_file():
        pytest.skip(f"{LANDMARKS} not found")
    rows = {r[0]: np.array(r[1:], float).reshape(5, 2) for r in list(csv.reader(LANDMARKS.open()))[1:]}
    offsets = []
    for name, faces in celeba_faces.items():
        if faces and name in rows:
            offsets.append(faces[0].landmarks - rows[name])
    distance = np.linalg.norm(np.array(offsets), axis=2).mean(0)
    assert distance.shape == (len(POINT_NAMES),) and (distance < 2.5).all(), distance


@pytest.mark.parametrize("degrees", [25.0, -25.0, 40.0, -40.0])
def test_a_tilted_face_is_found_and_its_transform_undoes_the_tilt(data, aligner, degrees):
    """±25°: HOG needs the rotated search or tolerates it; ±40°: HOG finds it upright and the
    points are levelled by re-predicting on the face turned by its own eyes."""
    photo = read(CELEBA / "000001.jpg")
    upright = aligner(photo, CELEBA_CROP)[0]
    canvas = cv2.copyMakeBorder(photo, 120, 120, 120, 120, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    canvas_points = upright.landmarks + 120
    turn = cv2.getRotationMatrix2D((canvas.shape[1] / 2, canvas.shape[0] / 2), degrees, 1.0)
    tilted = cv2.warpAffine(canvas, turn, canvas.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    faces = aligner(tilted, CELEBA_CROP)
    assert len(faces) == 1
    assert abs(angle(faces[0]) - angle(upright) - degrees) < 5
    expected = canvas_points @ turn[:, :2].T + turn[:, 2]  # the upright points, turned with the photo
    assert np.linalg.norm(faces[0].landmarks - expected, axis=1).mean() < 4


def test_a_big_photo_is_searched_small_and_its_points_found_at_full_size(data, aligner):
    photo = cv2.resize(read(CELEBA / "000002.jpg"), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((3000, 4000, 3), 90, np.uint8)
    canvas[1000:1000 + photo.shape[0], 2500:2500 + photo.shape[1]] = photo
    small = aligner(read(CELEBA / "000002.jpg"), CELEBA_CROP)[0]
    big = aligner(canvas, CELEBA_CROP)
    assert len(big) == 1 and 3.6 < big[0].side / small.side < 4.4
    expected = (small.landmarks + 0.5) * 4 - 0.5 + (2500, 1000)
    assert np.linalg.norm(big[0].landmarks - expected, axis=1).mean() < 8  # 2 px at the small size


def test_five_point_model_places_the_face_by_its_eyes(data):
    faces = DlibAligner(landmarks=5)(read(CELEBA / "000001.jpg"), CELEBA_CROP)
    assert len(faces) == 1
    points = faces[0].landmarks
    assert np.isnan(points[2:]).all() and points[0, 0] < points[1, 0]  # image-left eye first
    eyes = in_layout(faces[0])[:2]
    assert np.abs(eyes - np.array(CELEBA_CROP.points[:2])).max() < 0.01  # two points: fitted exactly


def test_five_points_from_68_follow_the_ibug_numbering():
    parts = np.arange(136, dtype=float).reshape(68, 2)
    points = five_points(parts)
    assert np.allclose(points[0], parts[36:42].mean(0)) and np.allclose(points[1], parts[42:48].mean(0))
    assert np.allclose(points[2:], parts[[30, 48, 54]])


def test_no_face_gives_an_empty_list(data, aligner):
    assert aligner(np.full((300, 400, 3), 128, np.uint8), CELEBA_CROP) == []
    assert aligner(read(NONFACE), CELEBA_CROP) == []


def test_min_face_drops_small_faces(data):
    assert DlibAligner(min_face=400, rotations=())(read(CELEBA / "000001.jpg"), CELEBA_CROP) == []


def test_missing_shape_predictors_name_the_install(monkeypatch):
    from gfc_align import aligner as module

    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GfcError, match="pip install dlib-bin face-recognition-models"):
        DlibAligner()


def make_photos(folder: Path) -> Path:
    """Two face photos (one with an EXIF rotation to undo) and one without a face."""
    folder.mkdir()
    shutil.copy(CELEBA / "000001.jpg", folder / "a.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: the viewer rotates it 90° clockwise
    Image.open(CELEBA / "000002.jpg").transpose(Image.Transpose.ROTATE_90).save(folder / "b.jpg", exif=exif)
    shutil.copy(NONFACE, folder / "scene.jpg")
    return folder


def run_align(*args: str):
    import click
    from click.testing import CliRunner
    from gfc_align import commands

    group = click.Group()
    commands.register(group)
    return CliRunner().invoke(group, ["align", *args])


def test_align_writes_crops_and_names_the_photo_without_a_face(data, registered, tmp_path):
    photos, out = make_photos(tmp_path / "photos"), tmp_path / "crops"
    result = run_align("--input", str(photos), "--output", str(out), "--size", "64")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("error:") == 1 and f"error: {photos / 'scene.jpg'}: no face found" in result.stderr
    assert f"wrote 2 crops of 3 photos to {out}/" in result.stdout
    transforms = json.loads((out / "transforms.json").read_text())
    assert sorted(transforms["crops"]) == ["a.png", "b.png"] and transforms["size"] == 64
    assert transforms["layout"] == CELEBA_CROP.to_json()
    for name, entry in transforms["crops"].items():
        crop = np.asarray(Image.open(out / name))
        assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
        expected = np.array(CELEBA_CROP.points) * 64 - 0.5
        assert np.linalg.norm(np.array(entry["landmarks"]) - expected, axis=1).mean() < 3, name
        assert np.array(entry["to_layout"]).shape == (2, 3) and len(entry["box"]) == 4


def test_align_all_faces_and_aligner_options(data, registered, tmp_path):
    out = tmp_path / "crops"
    result = run_align("--input", str(CELEBA / "000001.jpg"), "--output", str(out), "--faces", "all",
                       "--align", "dlib:landmarks=5,upsample=0")
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "transforms.json").read_text())["crops"]["000001_0.png"]
    assert entry["landmarks"][2] == [None, None]  # the 5-point model has no nose or mouth
    bad = run_align("--input", str(CELEBA / "000001.jpg"), "--output", str(out), "--align", "dlib:landmarks=7")
    assert bad.exit_code != 0 and "landmarks" in str(bad.exception or bad.output)


def test_aligned_faces_reads_the_align_output_back(data, registered, tmp_path):
    from gfc_kit.errors import DataError
    from gfc_kit.factory import build

    photos, out = make_photos(tmp_path / "photos"), tmp_path / "crops"
    run_align("--input", str(photos), "--output", str(out))
    dataset = build("dataset", {"type": "aligned_faces", "root": str(out)}, image_size=64)
    assert isinstance(dataset, AlignedFaces) and len(dataset) == 2
    item = dataset[0]
    assert item["image"].shape == (3, 64, 64) and -1 <= item["image"].min() <= item["image"].max() <= 1
    assert item["path"] == str(out / "a.png")
    written = np.array(json.loads((out / "transforms.json").read_text())["crops"]["a.png"]["landmarks"])
    assert np.allclose(item["landmarks"].numpy(), (written + 0.5) * 64 / 128 - 0.5, atol=1e-4)  # 128 px crops
    sizes = []
    for split in ("train", "val", "test"):  # each photo in exactly one split (an empty one raises)
        try:
            sizes.append(len(AlignedFaces(out, split=split, held_out=0.4)))
        except DataError:
            sizes.append(0)
    assert sum(sizes) == 2
    with pytest.raises(DataError, match=f"{photos}: no transforms.json"):
        AlignedFaces(photos)


def test_pip_installed_plugin_adds_the_align_command(data, tmp_path):
    """Install the distribution for real (no deps, no build isolation) and run ``gfc-kit align``
    in a fresh process that finds the plugin through its entry point."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PLUGIN)], check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "GFC_KIT_DISABLE_PLUGINS"}
    env.update(PYTHONPATH=str(target), GFC_KIT_PLUGINS="gfc_align")

    def gfc(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gfc_kit", *args], env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    listing = gfc("plugins", "--kind", "aligner")
    assert listing.returncode == 0 and "dlib  (gfc-align 0.1.0)" in listing.stdout, listing.stderr
    photos, out = make_photos(tmp_path / "photos"), tmp_path / "crops"
    done = gfc("align", "--model", "gfc_celeba_cpu", "--input", str(photos), "--output", str(out))
    assert done.returncode == 2, done.stderr
    assert f"error: {photos / 'scene.jpg'}: no face found" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "transforms.json"]


def test_complete_a_folder_of_unaligned_photos_with_their_masks(data, registered, tmp_path):
    """The issue's call: ``gfc-kit complete --model gfc_celeba_cpu --align dlib --input PHOTOS/
    --mask MASKS/``: every photo completed at its own size with its own mask, and every pixel
    outside the hole's blend band (poisson: 3 px) unchanged; the hole itself filled on the face."""
    from click.testing import CliRunner

    from gfc_kit.commands.cli import cli
    from gfc_kit.components.blenders import distance_to_hole

    photos, masks, out = tmp_path / "photos", tmp_path / "masks", tmp_path / "out"
    photos.mkdir(), masks.mkdir()
    holes = {}
    for i, (source, degrees, scale) in enumerate([(celeba_photos()[0], 20.0, 2.0), (celeba_photos()[5], -12.0, 1.5)]):
        face = Image.open(source).convert("RGB")
        face = face.resize((round(face.width * scale), round(face.height * scale)), Image.BICUBIC)
        canvas = Image.new("RGB", (face.width + 160, face.height + 100), (90, 120, 60))
        canvas.paste(face.rotate(degrees, resample=Image.BICUBIC, fillcolor=(90, 120, 60)), (100, 40))
        canvas.save(photos / f"p{i}.jpg", quality=95)
        faces = DlibAligner()(np.asarray(canvas), CELEBA_CROP)
        mouth = faces[0].landmarks[3:].mean(0)  # a hole over the mouth, wherever the face turned
        hole = np.zeros((canvas.height, canvas.width), np.uint8)
        x, y = np.round(mouth).astype(int)
        hole[y - 12:y + 12, x - 25:x + 25] = 255
        Image.fromarray(hole).save(masks / f"p{i}.png")
        holes[f"p{i}"] = hole > 0
    result = CliRunner().invoke(cli, ["complete", "--model", "gfc_celeba_cpu", "--align", "dlib", "--input",
                                      str(photos), "--mask", str(masks), "--output", str(out)])
    assert result.exit_code == 0, result.output
    for stem, hole in holes.items():
        with Image.open(photos / f"{stem}.jpg") as opened:
            before = np.asarray(opened.convert("RGB"))
        after = read(out / f"{stem}.png")
        assert after.shape == before.shape
        band = distance_to_hole(hole) <= 3
        assert np.array_equal(after[~band], before[~band])
        assert np.abs(after[hole].astype(int) - before[hole].astype(int)).mean() > 2


# --- bad input: one error line naming the culprit, exit status 2, no traceback ------------------------------------

def gfc_kit_align(*args: str):
    """``gfc-kit align ARGS`` through gfc-kit's own command group (which turns errors into
    ``error:`` lines), the command added as an installed plugin's would be."""
    import click
    from click.testing import CliRunner
    from gfc_align import commands

    from gfc_kit.commands import cli

    staging = click.Group()
    commands.register(staging)
    cli.add_command(staging.commands["align"])
    try:
        return CliRunner().invoke(cli, ["align", *args])
    finally:
        cli.commands.pop("align")


def assert_one_error(result, culprits: list[str]) -> None:
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert len(errors) == 1 and all(c in errors[0] for c in culprits), result.output


def read_only_folder(path: Path) -> Path:
    """``path``, a folder this process may not write into; skip where it may write anywhere (root)."""
    path.mkdir()
    path.chmod(0o555)
    try:
        (path / "probe").touch()
    except PermissionError:
        return path
    pytest.skip("this process may write anywhere (root): a read-only folder cannot be tested")


def a_file(path: Path) -> Path:
    """``path``, a file."""
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("output", [
    lambda t: a_file(t / "a_file") / "crops",  # a file on its path
    lambda t: a_file(t / "a_file"),  # a file where the folder goes
    lambda t: read_only_folder(t / "read_only") / "crops",
], ids=["under-a-file", "a-file", "read-only"])
def test_align_output_that_cannot_be_written_is_one_line_before_any_photo(registered, tmp_path, output):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), (120, 90, 60)).save(photo)
    target = output(tmp_path)
    result = gfc_kit_align("--input", str(photo), "--output", str(target))
    if (tmp_path / "read_only").exists():
        (tmp_path / "read_only").chmod(0o755)  # so the temporary folder can be removed
    assert_one_error(result, ["--output", str(target)])
    assert "no face" not in result.output  # refused before the aligner ran


@pytest.mark.parametrize("args, culprits", [
    (lambda t: ["--input", str(t / "no_such_folder")], ["--input", "no_such_folder"]),
    (lambda t: ["--input", str(t / "dot.png")], ["dot.png"]),  # a 1×1 photo
    (lambda t: ["--input", str(t / "dot.png"), "--align", "dlib:upsample=x"], ["--align dlib:upsample=x", "upsample"]),
    (lambda t: ["--input", str(t / "dot.png"), "--align", "dlib:upsample="], ["--align", "no value"]),
])
def test_align_bad_input_is_one_line(registered, tmp_path, args, culprits):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    result = gfc_kit_align(*args(tmp_path), "--output", str(tmp_path / "crops"))
    assert_one_error(result, culprits)
