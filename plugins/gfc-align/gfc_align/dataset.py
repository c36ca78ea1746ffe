"""The ``aligned_faces`` dataset: a folder written by ``gfc-kit align``, read back as training or
test data already in the model's face layout, with each crop's five points as landmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import Field

from gfc_kit.components.datasets.files import Augmentation, FileDataset, crop_resize
from gfc_kit.components.datasets.celeba import identity_split
from gfc_kit.errors import DataError
from gfc_kit.face_layout import CELEBA_CROP, FaceLayout
from gfc_kit.imaging import read_image

TRANSFORMS = "transforms.json"


class AlignedFaces(FileDataset):
    """The crops listed in ``root/transforms.json``, resized to ``image_size``."""

    def __init__(
        self,
        root: Path,
        image_size: Annotated[int, Field(ge=8)] = 128,
        split: Literal["all", "train", "val", "test"] = "all",
        held_out: Annotated[float, Field(gt=0, lt=0.5)] = 0.1,
        limit: Annotated[int, Field(ge=1)] | None = None,
        augment: Augmentation | None = None,
    ) -> None:
        """
        :param root: a folder written by ``gfc-kit align``.
        :param split: ``all``, or ``train``/``val``/``test`` by a stable hash of each crop's source
            photo name (``held_out`` of the photos in each of ``test`` and ``val``), so the faces of
            one photo are never in two splits.
        :param limit: use only the first ``limit`` crops (sorted by name, after the split).
        :param augment: the paper's shift / rotation / flip, when set.
        """
        self.crops, self.crop_size, self.face_layout = _read_transforms(root)
        names = sorted(self.crops)
        if split != "all":
            names = [n for n in names if identity_split(_photo_name(self.crops[n], n), held_out) == split]
            if not names:
                raise DataError(f"{root}: none of its {len(self.crops)} crops is in the {split!r} split")
        super().__init__([root / name for name in names][:limit], image_size, augment)

    def read(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        image = read_image(path)
        height, width = image.shape[-2:]
        entry = self.crops[path.name]
        points = [[float("nan") if v is None else float(v) for v in p] for p in entry["landmarks"]]
        scale = torch.tensor([width / self.crop_size, height / self.crop_size])
        # crop pixels at the size align wrote → this file's pixels (pixel centres at whole numbers)
        landmarks = (torch.tensor(points, dtype=torch.float32) + 0.5) * scale - 0.5
        return crop_resize({"image": image, "landmarks": landmarks}, (0, 0, width, height), self.image_size)


def _read_transforms(root: Path) -> tuple[dict[str, Any], int, FaceLayout]:
    """The crops' entries by file name, the side ``gfc-kit align`` wrote them at, and the face
    layout it aligned to (a model trained on the crops records it)."""
    path = root / TRANSFORMS
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (write one with gfc-kit align)")
    if not path.is_file():
        raise DataError(f"{root}: no {TRANSFORMS}; not a folder written by gfc-kit align")
    try:
        data = json.loads(path.read_text())
        crops, size = data["crops"], int(data["size"])
        layout = FaceLayout.from_json(data["layout"], str(path)) if "layout" in data else CELEBA_CROP
        if not isinstance(crops, dict) or not all("landmarks" in c for c in crops.values()):
            raise TypeError("'crops' must map file names to entries with 'landmarks'")
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a gfc-kit align transforms file ({type(exc).__name__}: {exc})") from None
    if not crops:
        raise DataError(f"{path}: lists no crops (gfc-kit align found no face)")
    return crops, size, layout


def _photo_name(entry: dict[str, Any], crop: str) -> str:
    """The source photo's file name (what the split hashes), or the crop's when it is not recorded."""
    return Path(str(entry.get("source") or crop)).name
