"""Inference: trained models completing tensors and photos, and the model folders they load from.

- :mod:`~gfc_kit.inference.completer`: :class:`ModelCompleter`, a trained generator as a completer;
- :mod:`~gfc_kit.inference.pipeline`: :class:`PhotoCompleter`, photos of any size: align, complete, warp back, blend;
- :mod:`~gfc_kit.inference.warping`: warps between a photo and a model's face layout;
- :mod:`~gfc_kit.inference.model_folder`: reading, listing and exporting model folders, a model's parser;
- :mod:`~gfc_kit.inference.photos`: photo files and holes in, completed files out (``gfc-kit complete``).
"""

from gfc_kit.inference.completer import Crop, ModelCompleter
from gfc_kit.inference.model_folder import RunParser, export_model, pretrained_models
from gfc_kit.model_json import face_layout, read_model_json
from gfc_kit.inference.pipeline import PhotoCompleter, photo_box

__all__ = ["Crop", "ModelCompleter", "PhotoCompleter", "RunParser", "export_model", "face_layout", "photo_box",
           "pretrained_models", "read_model_json"]
