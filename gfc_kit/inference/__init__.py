"""Inference: trained models completing tensors and photos, and the model folders they load from.

- :mod:`~gfc_kit.inference.completer`: :class:`ModelCompleter`, a trained generator as a completer;
- :mod:`~gfc_kit.inference.model_folder`: reading, listing and exporting model folders, a model's parser;
- :mod:`~gfc_kit.inference.photos`: photo files and holes in, completed files out (``gfc-kit complete``).
"""

from gfc_kit.inference.completer import Crop, ModelCompleter, photo_box
from gfc_kit.inference.model_folder import RunParser, export_model, pretrained_models, read_model_json

__all__ = ["Crop", "ModelCompleter", "RunParser", "export_model", "photo_box", "pretrained_models", "read_model_json"]
