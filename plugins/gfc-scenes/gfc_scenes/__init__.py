"""gfc-scenes: non-face inpainting for gfc-kit (scene datasets, LaMa's masks, a scene model)."""

__version__ = "0.1.0"
