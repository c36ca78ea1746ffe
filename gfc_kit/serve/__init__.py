"""``gfc-kit serve``: a local web page to brush a hole on a photo and complete it.

The app lives in :mod:`gfc_kit.serve.app` (``create_app``); it needs the ``serve`` extra
(starlette, uvicorn, python-multipart), so this package imports none of them and only holds the
defaults the command line shows. See docs/serving.md.
"""

from __future__ import annotations

DEFAULT_HOST = "127.0.0.1"
"""Loopback only: the page has no login, so nothing beyond this machine may reach it by default."""
DEFAULT_PORT = 8765
MAX_BYTES = 25 * 2**20
"""Largest photo or mask file a request may carry (25 MiB: a 24-megapixel JPEG is about 10 MiB)."""
MAX_PIXELS = 40_000_000
"""Largest photo or mask, in pixels: a 40-megapixel RGBA photo decodes to 160 MB, and the page
holds a few canvases of that size."""
