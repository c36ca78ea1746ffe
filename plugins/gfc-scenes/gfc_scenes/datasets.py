"""Photos of scenes as training and evaluation data: any folder of photos, and the layouts in which
Places365, Paris StreetView and DTD are downloaded.

A scene has no face layout (``face_layout = None``): a model trained on it records none, so
``gfc-kit complete`` crops around each hole instead of looking for a face. Training items are
random square crops at several scales, flipped half the time, so a fully convolutional generator
sees structures at the sizes it will meet in crops of real photos; evaluation items are the
largest centred square, the same on every run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import AfterValidator, Field

from gfc_kit.components.datasets.files import FileDataset, crop_resize, fit_box
from gfc_kit.components.datasets.celeba import identity_split
from gfc_kit.errors import DataError
from gfc_kit.imaging import list_images, read_image

Split = Literal["all", "train", "val", "test"]
Crop = Literal["random", "center"]


def _check_scale(scale: tuple[float, float]) -> tuple[float, float]:
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError("scale must be (low, high) with 0 < low <= high <= 1 (fractions of the shorter side)")
    return scale


Scale = Annotated[tuple[float, float], AfterValidator(_check_scale)]


def photo_split(path: Path, held_out: float) -> str:
    """``train``, ``val`` or ``test`` for a photo, from a stable hash of its file stem (the photo's
    name, whatever folder it sits in): ``held_out`` of the photos in each of ``test`` and ``val``."""
    return identity_split(path.stem, held_out)


class ScenePhotos(FileDataset):
    """Square crops of photos (no faces assumed), split by photo."""

    face_layout = None
    """Scenes have no face layout: models trained here complete crops around the holes."""

    def __init__(self, files: list[Path], image_size: int, crop: Crop, scale: tuple[float, float], flip: bool,
                 where: str) -> None:
        if not files:
            raise DataError(f"{where}: no photos in this split")
        super().__init__(files, image_size, None)
        self.crop = crop
        self.scale = scale
        self.flip = flip

    def read(self, index: int) -> dict[str, Any]:
        image = read_image(self.files[index])
        height, width = image.shape[-2:]
        if self.crop == "center":
            return crop_resize({"image": image}, fit_box(width, height, "center_crop"), self.image_size)
        low, high = self.scale
        r = torch.rand(4).tolist()
        side = max(1, round(min(width, height) * (low + (high - low) * r[0])))
        x0, y0 = round((width - side) * r[1]), round((height - side) * r[2])
        sample = crop_resize({"image": image}, (x0, y0, x0 + side, y0 + side), self.image_size)
        if self.flip and r[3] < 0.5:
            sample["image"] = sample["image"].flip(-1)
        return sample


def default_crop(split: str) -> Crop:
    """Random crops to train on, the centred square to evaluate on."""
    return "random" if split == "train" else "center"


def select(files: list[Path], split: Split, held_out: float, limit: int | None) -> list[Path]:
    """``files`` of ``split`` (by :func:`photo_split`), at most ``limit`` of them."""
    if split != "all":
        files = [f for f in files if photo_split(f, held_out) == split]
    return files[:limit]


class SceneFolder(ScenePhotos):
    """Every photo under one or more folders (recursively), split by photo name."""

    def __init__(
        self,
        root: Path | list[Path],
        image_size: Annotated[int, Field(ge=8)] = 128,
        split: Split = "all",
        held_out: Annotated[float, Field(gt=0, lt=0.5)] = 0.1,
        crop: Crop = "center",
        scale: Scale = (0.5, 1.0),
        flip: bool = True,
        pattern: str = "*",
        limit: Annotated[int, Field(ge=1)] | None = None,
    ) -> None:
        """
        :param root: a folder of photos, or a list of folders read as one set.
        :param split: ``all``, or ``train``/``val``/``test`` by a stable hash of each photo's name
            (``held_out`` of the photos in each of ``test`` and ``val``).
        :param crop: ``random`` (training: a square whose side is a random fraction ``scale`` of
            the shorter side, anywhere in the photo, flipped half the time when ``flip``) or
            ``center`` (evaluation: the largest centred square).
        :param pattern: a glob on file names.
        :param limit: use only the first ``limit`` photos (sorted by path, after the split).
        """
        roots = root if isinstance(root, list) else [root]
        files = [f for folder in roots for f in list_images(Path(folder), pattern)]
        where = ", ".join(str(r) for r in roots)
        super().__init__(select(files, split, held_out, limit), image_size, crop, scale, flip, f"{where} ({split})")


def _listed(root: Path, list_file: Path, folder: Path, strip: str = "/") -> list[Path]:
    """The photos a split file lists (the first column of each line), under ``folder``; a listed
    file that is missing is an error naming the list, so a half-extracted archive is noticed."""
    if not list_file.is_file():
        raise DataError(f"{root}: no {list_file.relative_to(root) if list_file.is_relative_to(root) else list_file}; "
                        "is this the dataset's folder as downloaded?")
    names = [line.split()[0].lstrip(strip) for line in list_file.read_text().splitlines() if line.strip()]
    files = [folder / name for name in names]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DataError(f"{list_file}: {len(missing)} of its {len(files)} photos are missing (first: {missing[0]})")
    return files


class Places365(ScenePhotos):
    """Places365-Standard as downloaded: ``data_256/`` (or ``data_large/``) with
    ``places365_train_standard.txt``, and ``val_256/`` (or ``val_large/``) with ``places365_val.txt``."""

    def __init__(
        self,
        root: Path,
        image_size: Annotated[int, Field(ge=8)] = 256,
        split: Literal["train", "val"] = "train",
        resolution: Literal["256", "large"] = "256",
        crop: Crop | None = None,
        scale: Scale = (0.5, 1.0),
        flip: bool = True,
        limit: Annotated[int, Field(ge=1)] | None = None,
    ) -> None:
        """
        :param root: the folder holding ``data_256/``, ``val_256/`` and the ``.txt`` split files
            (``filelist_places365-standard.tar``).
        :param split: ``train`` (the 1.8 M training photos) or ``val`` (36,500, the usual test set).
        :param resolution: ``256`` (the 256×256 copies) or ``large`` (the originals).
        :param crop: ``random`` or ``center``; by default random for ``train``, centred for ``val``.
        """
        root = Path(root)
        if split == "train":
            files = _listed(root, root / "places365_train_standard.txt", root / f"data_{resolution}")
        else:
            files = _listed(root, root / "places365_val.txt", root / f"val_{resolution}")
        super().__init__(files[:limit], image_size, crop or default_crop(split), scale, flip, f"{root} ({split})")


class ParisStreetView(ScenePhotos):
    """Paris StreetView (Pathak et al. 2016) as distributed on request: ``paris_train_original/``
    and ``paris_eval_gt/`` of 936×537 photos (``train/`` and ``test/`` are accepted too)."""

    FOLDERS = {"train": ("paris_train_original", "train"), "test": ("paris_eval_gt", "test")}

    def __init__(
        self,
        root: Path,
        image_size: Annotated[int, Field(ge=8)] = 256,
        split: Literal["train", "test"] = "train",
        crop: Crop | None = None,
        scale: Scale = (0.5, 1.0),
        flip: bool = True,
        limit: Annotated[int, Field(ge=1)] | None = None,
    ) -> None:
        """:param crop: ``random`` or ``center``; by default random for ``train``, centred for ``test``."""
        root = Path(root)
        folder = next((root / name for name in self.FOLDERS[split] if (root / name).is_dir()), None)
        if folder is None:
            raise DataError(f"{root}: no {' or '.join(n + '/' for n in self.FOLDERS[split])} folder for the "
                            f"{split} split of Paris StreetView")
        super().__init__(list_images(folder)[:limit], image_size, crop or default_crop(split), scale, flip, f"{folder}")


class DTD(ScenePhotos):
    """The Describable Textures Dataset as downloaded: ``images/<class>/*.jpg`` with the ten splits
    in ``labels/{train,val,test}N.txt``."""

    def __init__(
        self,
        root: Path,
        image_size: Annotated[int, Field(ge=8)] = 128,
        split: Literal["train", "val", "test"] = "train",
        fold: Annotated[int, Field(ge=1, le=10)] = 1,
        crop: Crop | None = None,
        scale: Scale = (0.5, 1.0),
        flip: bool = True,
        limit: Annotated[int, Field(ge=1)] | None = None,
    ) -> None:
        """:param fold: which of DTD's ten splits (``train1.txt`` … ``train10.txt``).
        :param crop: ``random`` or ``center``; by default random for ``train``, centred otherwise."""
        root = Path(root)
        files = _listed(root, root / "labels" / f"{split}{fold}.txt", root / "images")
        super().__init__(files[:limit], image_size, crop or default_crop(split), scale, flip,
                         f"{root} ({split}{fold})")


class MaskSet(FileDataset):
    """A set ``gfc-kit masks write`` wrote: each crop with its own mask (``mask`` in the item), for
    ``gfc-kit evaluate --data mask_set:SET --masks mask_set``. Every file is checked against the
    set's SHA-256 manifest first, so a set that was changed or half copied is never scored."""

    face_layout = None

    def __init__(self, root: Path, image_size: Annotated[int, Field(ge=8)] = 256,
                 limit: Annotated[int, Field(ge=1)] | None = None) -> None:
        """:param image_size: crops of another size are resized (masks by area, then thresholded at half)."""
        from gfc_scenes.mask_set import read_manifest

        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: no such folder (write a set with gfc-kit masks write)")
        digests = read_manifest(root)
        crops = sorted(name for name in digests if not name.endswith("_mask000.png"))
        for name in digests:
            path = root / name
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digests[name]:
                raise DataError(f"{path}: {'missing' if not path.is_file() else 'changed'} since the set was written "
                                "(its SHA-256 differs from manifest.sha256)")
        missing = [c for c in crops if c.removesuffix(".png") + "_mask000.png" not in digests]
        if missing:
            raise DataError(f"{root}: {missing[0]} has no mask in the manifest")
        super().__init__([root / c for c in crops][:limit], image_size, None)

    def read(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        image = read_image(path)
        height, width = image.shape[-2:]
        sample = crop_resize({"image": image}, (0, 0, width, height), self.image_size)
        mask = read_image(path.with_name(path.stem + "_mask000.png"), "L").float()[None] / 255
        sample["mask"] = (F.interpolate(mask, size=(self.image_size,) * 2, mode="area")[0] >= 0.5).float()
        return sample


class GivenMasks:
    """The masks a :class:`MaskSet` item carries (``mask`` in the batch), as a mask sampler."""

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        if "mask" not in batch:
            raise DataError("the mask_set sampler takes each image's mask from the data: use it with "
                            "--data mask_set:SET (a set written by gfc-kit masks write)")
        return batch["mask"].float()
