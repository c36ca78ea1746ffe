"""gfc-align: find and align faces in photos with dlib, for gfc-kit's models and datasets."""

__version__ = "0.1.0"
