"""Face images with parsing label maps, mapped to the paper's 11 classes (for the parser stage).

Label ids differ between datasets, so a ``label_map`` turns source ids into ours (unmapped ids
become background). The CelebAMask-HQ map is built in. Note its ``l_eye``/``l_brow`` are the
person's left, which is the *image-right*; gfc-kit's "left" is image-left, so they swap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from gfc_kit.components.datasets.files import Augmentation, FileDataset, Fit, crop_resize, fit_box
from gfc_kit.errors import DataError
from gfc_kit.face_layout import CELEBA_CROP
from gfc_kit.hookspecs import hookimpl
from gfc_kit.imaging import list_images, read_image, read_label_map

CELEBAMASK_HQ = {
    1: 1,  # skin
    2: 6,  # nose
    3: 1,  # eyeglasses: the frame lies on skin (eyes are drawn over it in this dataset)
    4: 5,  # l_eye (person's left = image-right) -> right_eye
    5: 4,  # r_eye -> left_eye
    6: 3,  # l_brow -> right_brow
    7: 2,  # r_brow -> left_brow
    10: 8,  # mouth -> inner_mouth
    11: 7,  # u_lip -> upper_lip
    12: 9,  # l_lip -> lower_lip
    13: 10,  # hair
}
"""CelebAMask-HQ's 19 ids (g_mask.py order) → our 11; ears, hat, earring, neck, cloth → background."""

LABEL_MAPS = {"identity": {i: i for i in range(11)}, "celebamask_hq": CELEBAMASK_HQ}


class ParsingFolder(FileDataset):
    """Face images plus label PNGs (paired by file stem), labels mapped to the 11 classes."""

    face_layout = CELEBA_CROP  # a parser's data: the faces are taken to be in the paper's layout

    def __init__(
        self,
        root: Path,
        image_size: Annotated[int, Field(ge=8)] = 128,
        images: str = "images",
        labels: str = "labels",
        label_map: Literal["identity", "celebamask_hq"] | dict[int, int] = "identity",
        fit: Fit = "center_crop",
        augment: Augmentation | None = None,
    ) -> None:
        """
        :param images: the image sub-folder of ``root``; ``labels``: the label sub-folder, whose
            single-channel PNGs share the images' file stems (they may be a different size).
        :param label_map: ``identity`` (labels already in our 11 ids), ``celebamask_hq``, or a
            mapping ``{source id: class id}``.
        """
        image_files = list_images(root / images)
        label_files = {p.stem: p for p in list_images(root / labels)}
        paired = [f for f in image_files if f.stem in label_files]
        if not paired:
            raise DataError(f"{root}: no image in {images}/ has a label file of the same name in {labels}/")
        self.label_files = {f: label_files[f.stem] for f in paired}  # by image, so leaving files out keeps pairs
        mapping = LABEL_MAPS[label_map] if isinstance(label_map, str) else label_map
        bad = {k: v for k, v in mapping.items() if not 0 <= v < 11 or not 0 <= k < 256}
        if bad:
            raise DataError(f"label_map: ids must map 0..255 to 0..10; got {bad}")
        self.lookup = torch.zeros(256, dtype=torch.long)
        for source, target in mapping.items():
            self.lookup[source] = target
        self.fit = fit
        super().__init__(paired, image_size, augment)

    def read(self, index: int) -> dict[str, Any]:
        image = read_image(self.files[index])
        raw = read_label_map(self.label_files[self.files[index]])
        height, width = image.shape[-2:]
        if raw.shape != (height, width):
            raw = F.interpolate(raw[None, None].float(), size=(height, width), mode="nearest-exact")[0, 0]
        sample = {"image": image, "labels": self.lookup[raw.long()]}
        return crop_resize(sample, fit_box(width, height, self.fit), self.image_size)


@hookimpl
def gfc_register(registry):
    registry.add("dataset", "parsing_folder", ParsingFolder)
