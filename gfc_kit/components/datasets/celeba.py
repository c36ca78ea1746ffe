"""CelebA aligned faces, cropped as the paper's data was (DESIGN.md section 7).

The GFC authors cropped ``img_align_celeba`` (178×218) the way DCGAN's ``crop_celebA.lua`` does:
the box from (30, 40) to (168, 178), i.e. 138×138 around the face, then resized. The box is given
in the 178×218 frame and scaled for copies of another size (e.g. a half-size 89×109 set).
"""

from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import Field

from gfc_kit.components.datasets.files import Augmentation, FileDataset, crop_resize
from gfc_kit.errors import DataError
from gfc_kit.face_layout import ALIGNED_SIZE, CELEBA_CROP, CROP_BOX
from gfc_kit.hookspecs import hookimpl
from gfc_kit.imaging import list_images, read_image

log = logging.getLogger("gfc_kit.data")

SPLITS = {"train": "0", "val": "1", "test": "2"}
"""``list_eval_partition.txt`` codes."""
SPLIT_IDS = {"train": (1, 162770), "val": (162771, 182637), "test": (182638, 202599)}
"""The official partition by file id, used when no ``list_eval_partition.txt`` is found (the file
says the same for the standard 202,599 images)."""
PARTITION_NAMES = ("list_eval_partition.txt", "Eval/list_eval_partition.txt")
"""Where the split file is looked for, relative to ``root`` and the two folders above it (the
official archive has ``Img/img_align_celeba/`` and ``Eval/list_eval_partition.txt``)."""

DEFAULT_ROOT = Path("data/celeba/img_align_celeba")


class CelebA(FileDataset):
    """CelebA aligned faces (img_align_celeba), cropped as DCGAN's crop_celebA.lua, resized."""

    face_layout = CELEBA_CROP

    def __init__(
        self,
        root: Path | list[Path] = DEFAULT_ROOT,
        image_size: Annotated[int, Field(ge=8)] = 128,
        split: Literal["all", "train", "val", "test"] = "all",
        partition_file: Path | None = None,
        identity_file: Path | None = None,
        held_out: Annotated[float, Field(gt=0, lt=0.5)] = 0.1,
        landmarks_file: Path | None = None,
        limit: Annotated[int, Field(ge=1)] | None = None,
        augment: Augmentation | None = None,
        zoom: Annotated[float, Field(gt=0.2, le=5)] = 1.0,
    ) -> None:
        """
        :param root: the ``img_align_celeba`` folder, or a list of folders read as one set (e.g. the
            178×218 originals and a half-size copy of other files; each is cropped at its own scale).
        :param split: ``all``, or an official split: from ``list_eval_partition.txt`` when found,
            else from CelebA's file-id ranges (train 1–162770, val 162771–182637, test 182638–202599).
        :param partition_file: the split file; by default looked for beside ``root``.
        :param identity_file: CelebA's ``identity_CelebA.txt``. When set, ``split`` is by person
            instead: a stable hash of each identity puts ``held_out`` of the people in ``test``, as
            many again in ``val`` and the rest in ``train``, so no one is in two splits (for a
            folder that holds only part of one official split).
        :param held_out: the fraction of identities in each of ``test`` and ``val``.
        :param landmarks_file: ``list_landmarks_align_celeba.txt`` (or its CSV form); when set,
            items carry the 5 landmarks and images without a row are left out.
        :param limit: use only the first ``limit`` images (after the split).
        :param augment: the paper's shift / rotation / flip, when set.
        :param zoom: scale the crop box about its centre: 1 is the paper's crop, 1.28 shows the
            face 1.28× closer (larger in the frame), below 1 wider; for checking a model on crops
            other than the layout it was trained on.
        """
        roots = root if isinstance(root, list) else [root]
        files: list[Path] = []
        identities = read_identities(identity_file) if split != "all" and identity_file is not None else None
        for folder in roots:
            files += _folder_files(folder, split, partition_file, identities, held_out)
        self.landmarks: dict[str, torch.Tensor] | None = None
        if landmarks_file is not None:
            self.landmarks = _read_landmarks(landmarks_file)
            kept = [f for f in files if f.name in self.landmarks]
            if not kept:
                raise DataError(f"{landmarks_file}: has landmarks for none of the images in {root}")
            if len(kept) < len(files):
                log.info("celeba: %d of %d images have landmarks in %s; using those",
                         len(kept), len(files), landmarks_file)
            files = kept
        self.zoom = zoom
        super().__init__(files[:limit], image_size, augment)

    def read(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        sample: dict[str, Any] = {"image": read_image(path)}
        height, width = sample["image"].shape[-2:]
        sx, sy = width / ALIGNED_SIZE[0], height / ALIGNED_SIZE[1]
        if self.landmarks is not None:
            sample["landmarks"] = self.landmarks[path.name] * torch.tensor([sx, sy])
        x0, y0, x1, y1 = CROP_BOX
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 / self.zoom
        box = ((cx - half) * sx, (cy - half) * sy, (cx + half) * sx, (cy + half) * sy)
        return crop_resize(sample, box, self.image_size)


def _folder_files(root: Path, split: str, partition_file: Path | None, identities: dict[str, str] | None,
                  held_out: float) -> list[Path]:
    """The images of one folder in ``split``: by person when ``identities`` is given, else official."""
    if root.is_file():
        raise DataError(f"{root}: is a file, not the folder of CelebA's aligned images")
    if not root.is_dir():
        raise DataError(
            f"{root}: CelebA not found. Put CelebA's aligned images (img_align_celeba/000001.jpg …) "
            f"there or set data.train.root to their folder; to try gfc-kit with nothing to "
            f"download, run the quickstart recipe: gfc-kit run quickstart")
    files = list_images(root, recursive=False)
    if identities is not None:
        return _select_identities(files, split, identities, held_out)
    if split != "all":
        files = _select_split(files, split, _find_partition(root, partition_file))
        if not files:
            raise DataError(f"{root}: no images of the {split!r} split are in this folder")
    return files


def _find_partition(root: Path, given: Path | None) -> Path | None:
    if given is not None:
        if not given.is_file():
            raise DataError(f"{given}: partition file not found")
        return given
    candidates = [folder / name for folder in (root, *root.parents[:2]) for name in PARTITION_NAMES]
    return next((c for c in candidates if c.is_file()), None)


def _select_split(files: list[Path], split: str, partition_file: Path | None) -> list[Path]:
    """The files of ``split``, by the partition file if there is one, else by the official id ranges."""
    if partition_file is not None:
        partition = _read_partition(partition_file)
        return [f for f in files if partition.get(f.name) == SPLITS[split]]
    low, high = SPLIT_IDS[split]
    return [f for f in files if f.stem.isdigit() and low <= int(f.stem) <= high]


def identity_split(identity: str, held_out: float) -> str:
    """``test``, ``val`` or ``train`` for a person, from a stable hash of their identity."""
    bucket = int(hashlib.sha1(identity.encode()).hexdigest()[:8], 16) / 16**8
    return "test" if bucket < held_out else "val" if bucket < 2 * held_out else "train"


def _select_identities(files: list[Path], split: str, identities: dict[str, str], held_out: float) -> list[Path]:
    unknown = [f.name for f in files if f.name not in identities]
    if unknown:
        raise DataError(f"{unknown[0]}: not in the identity file ({len(unknown)} images are not)")
    return [f for f in files if identity_split(identities[f.name], held_out) == split]


def read_identities(path: Path) -> dict[str, str]:
    """``file name -> identity`` from CelebA's ``identity_CelebA.txt`` (lines ``000001.jpg 2880``)."""
    if not path.is_file():
        raise DataError(f"{path}: identity file not found")
    rows = [line.split() for line in path.read_text().splitlines()]
    identities = {row[0]: row[1] for row in rows if len(row) == 2}
    if not identities:
        raise DataError(f"{path}: no 'file identity' lines")
    return identities


def _read_partition(path: Path) -> dict[str, str]:
    """``file name -> split code`` from lines ``000001.jpg 0``."""
    rows = (line.split() for line in path.read_text().splitlines())
    return {row[0]: row[1] for row in rows if len(row) == 2}


def _read_landmarks(path: Path) -> dict[str, torch.Tensor]:
    """``file name -> 5×2`` landmarks from CelebA's text file or the common CSV form of it."""
    if not path.is_file():
        raise DataError(f"{path}: landmarks file not found")
    lines = path.read_text().splitlines()
    if lines and "," in lines[0]:
        rows = [(r[0], r[1:]) for r in csv.reader(lines[1:]) if len(r) == 11]
    else:  # the official file: a count line, a header line, then "000001.jpg x1 y1 … x5 y5"
        rows = [(p[0], p[1:]) for p in (line.split() for line in lines[2:]) if len(p) == 11]
    if not rows:
        raise DataError(f"{path}: no landmark rows (expected 'file x1 y1 … x5 y5' or the CSV form)")
    try:
        return {name: torch.tensor([float(v) for v in values]).view(5, 2) for name, values in rows}
    except ValueError as exc:
        raise DataError(f"{path}: a landmark is not a number: {exc}") from None


@hookimpl
def gfc_register(registry):
    registry.add("dataset", "celeba", CelebA)
