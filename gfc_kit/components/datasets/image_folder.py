"""Any folder of images (faces or not), made square by a crop/resize policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from gfc_kit.components.datasets.files import Augmentation, FileDataset, Fit, crop_resize, fit_box
from gfc_kit.face_layout import CELEBA_CROP
from gfc_kit.hookspecs import hookimpl
from gfc_kit.imaging import list_images, read_image


class ImageFolder(FileDataset):
    """Every image under a folder (recursively), made square by `fit` and resized."""

    def __init__(
        self,
        root: Path,
        image_size: Annotated[int, Field(ge=8)] = 128,
        fit: Fit = "center_crop",
        recursive: bool = True,
        limit: Annotated[int, Field(ge=1)] | None = None,
        augment: Augmentation | None = None,
        pattern: str = "*",
        face_layout: Literal["none", "celeba_crop"] = "none",
    ) -> None:
        """
        :param fit: ``center_crop`` (largest centred square), ``resize`` (stretch) or ``pad``
            (extend the short side by repeating its edge pixels).
        :param limit: use only the first ``limit`` images in sorted path order.
        :param pattern: a glob on file names, e.g. ``*_crop???.png`` for a LaMa-style evaluation set.
        :param face_layout: ``celeba_crop`` when the images are faces in the paper's layout (a model
            trained on them records it, and ``--align`` maps photos onto it); ``none`` otherwise.
        """
        self.fit = fit
        self.face_layout = CELEBA_CROP if face_layout == "celeba_crop" else None
        super().__init__(list_images(root, pattern, recursive=recursive)[:limit], image_size, augment)

    def read(self, index: int) -> dict[str, Any]:
        image = read_image(self.files[index])
        box = fit_box(image.shape[-1], image.shape[-2], self.fit)
        return crop_resize({"image": image}, box, self.image_size)


@hookimpl
def gfc_register(registry):
    registry.add("dataset", "image_folder", ImageFolder)
