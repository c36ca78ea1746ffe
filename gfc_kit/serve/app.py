"""The ``gfc-kit serve`` web app: one page (``static/index.html``) on which a person brushes a hole
on a photo and completes it, and the two endpoints it calls.

Local use only, and built so that other web pages cannot use it through the browser:

- the ``Host`` header must name this server (``127.0.0.1``, ``localhost`` or ``[::1]`` with its
  port, or the address it is bound to), which defeats DNS rebinding (a page on ``evil.example``
  whose name later resolves to 127.0.0.1 still sends ``Host: evil.example``);
- a POST whose ``Origin`` is another site is refused, so a cross-site form cannot spend the CPU;
- no CORS header is ever sent, so no other origin can read an answer;
- the page loads nothing from elsewhere, and its Content-Security-Policy says so.

``POST /complete`` streams the photo and the mask into a per-request temporary folder (removed
after the answer), refuses a file over ``max_bytes`` or ``max_pixels`` (413) or one that is not an
image (400), and completes in one worker thread: one completion at a time, the models loaded once.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gfc_kit.errors import GfcError
from gfc_kit.serve import DEFAULT_HOST, DEFAULT_PORT, MAX_BYTES, MAX_PIXELS

log = logging.getLogger("gfc_kit.serve")

FILES = ("photo", "mask")
FIELDS = ("model", "aligner", "blend", "refine")
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
FIELD_BYTES = 256
"""Longest text field accepted (component names are short)."""

PAGE_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
"""The page's Content-Security-Policy: its own inline script and style, pictures it makes itself,
requests to this server only."""

ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
        'fill="#4f8cff"/><circle cx="8" cy="8" r="4" fill="#fff"/></svg>')


class Refused(Exception):
    """A request the server will not complete: ``status`` and a one-line message for the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    """Per file (photo, mask)."""
    max_pixels: int = MAX_PIXELS
    """Per image, width × height."""

    @property
    def body_bytes(self) -> int:
        """The largest request body read at all: two files and a little form overhead."""
        return 2 * self.max_bytes + 2**20


@dataclass(frozen=True)
class Choice:
    """The components a completion uses, by name, as the form fields give them."""

    model: str
    aligner: str = "none"
    blend: str = "poisson"
    refine: str = "residual"


def create_app(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, max_bytes: int = MAX_BYTES,
               max_pixels: int = MAX_PIXELS) -> Starlette:
    """The app for a server bound to ``host``:``port`` (the port is part of the ``Host`` check, so
    give the one actually bound: :func:`listen` with port 0 picks a free one). How a completion
    crops the photo is said in :meth:`Engine.complete`; ``gfc-kit serve`` also calls
    :func:`keep_memory_flat`, which is process-wide."""
    limits = Limits(max_bytes, max_pixels)
    engine = Engine()
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gfc-complete")
    page = resources.files("gfc_kit.serve").joinpath("static", "index.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"})

    async def icon(request: Request) -> Response:
        return Response(ICON, media_type="image/svg+xml")

    async def options(request: Request) -> Response:
        return JSONResponse({**engine.options(), "max_bytes": limits.max_bytes, "max_pixels": limits.max_pixels})

    async def complete(request: Request) -> Response:
        upload = tempfile.TemporaryDirectory(prefix="gfc-serve-")
        tmp = upload.name
        try:
            with upload:
                folder = Path(tmp)
                form = await receive_form(request, folder, limits)
                choice = form.choice(engine.default_model())
                loop = asyncio.get_running_loop()
                png = await loop.run_in_executor(worker, engine.complete, folder, form.files, choice, limits)
        except Refused as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        except GfcError as exc:
            message = str(exc).replace(f"{tmp}/", "").replace(tmp, "upload")  # an upload is named by its field
            return PlainTextResponse(message.splitlines()[0] if message else "bad input", status_code=400)
        except Exception as exc:  # a bug: the person still gets a line, the log gets the traceback
            log.exception("completion failed")
            return PlainTextResponse(f"gfc-kit failed: {type(exc).__name__}: {exc} (the server's log has the details)",
                                     status_code=500)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        worker.shutdown(wait=True, cancel_futures=True)

    routes = [Route("/", index), Route("/favicon.svg", icon), Route("/api/options", options),
              Route("/complete", complete, methods=["POST"])]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(LocalOnly, host=host, port=port)])


class LocalOnly:
    """Answers only requests addressed to this server by a page of this server (see the module's
    docstring), and adds headers that keep browsers from sniffing types or framing the page."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.app = app
        names = {*LOCAL_NAMES, (f"[{host}]" if ":" in host else host).lower()}
        self.hosts = {f"{name}:{port}" for name in names} | (names if port == 80 else set())
        self.origins = {f"http://{h}" for h in self.hosts}
        self.url = f"http://127.0.0.1:{port}/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        origin = headers.get("origin")
        if host.lower() not in self.hosts:
            refusal = f"Host {host!r} is not this server; open {self.url}"
            await PlainTextResponse(refusal, status_code=400)(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD") and origin is not None and origin.lower() not in self.origins:
            refusal = f"a page of {origin} may not use this server; open {self.url}"
            await PlainTextResponse(refusal, status_code=403)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = MutableHeaders(scope=message)
                extra["X-Content-Type-Options"] = "nosniff"
                extra["X-Frame-Options"] = "DENY"
                extra["Referrer-Policy"] = "no-referrer"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Form:
    """A multipart body streamed to disk as it arrives: each file part into ``folder/<field>``
    (at most ``max_bytes``; beyond that the rest is read and dropped, so the client still gets the
    413 rather than a reset connection), text fields in memory."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.files: dict[str, Path] = {}
        self.fields: dict[str, str] = {}
        self.sizes: dict[str, int] = {}
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._name = ""
        self._sink: Any = None
        self._text = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {"on_part_begin": self._part_begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value_data, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end}

    def _part_begin(self) -> None:
        self._headers, self._name, self._text = {}, "", bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name not in FILES + FIELDS:
            raise Refused(400, f"unexpected form field {name!r}; send {', '.join(FILES + FIELDS)}")
        if name in self.files or name in self.fields:
            raise Refused(400, f"{name}: sent twice")
        self._name = name
        self.sizes[name] = 0
        if name in FILES:
            self.files[name] = self.folder / name
            self._sink = open(self.files[name], "wb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self.sizes[self._name] += end - start
        if self._name in FIELDS:
            if self.sizes[self._name] > FIELD_BYTES:
                raise Refused(400, f"{self._name}: longer than {FIELD_BYTES} bytes; give a component's name")
            self._text += data[start:end]
        elif self.sizes[self._name] > self.max_bytes:
            if self._sink is not None:  # over the limit: stop keeping it, but go on reading
                self._sink.close()
                self._sink = None
                self.files[self._name].unlink()
        else:
            self._sink.write(data[start:end])

    def _part_end(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self._name in FIELDS:
            self.fields[self._name] = self._text.decode("utf-8", "replace").strip()

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()

    def check(self) -> None:
        """Refuse a file over the byte limit, then one that is missing."""
        for name in FILES:
            if self.sizes.get(name, 0) > self.max_bytes:
                raise Refused(413, f"{name}: {_size(self.sizes[name])} is over this server's limit of "
                                   f"{_size(self.max_bytes)} per file (gfc-kit serve --max-bytes)")
        for name in FILES:
            if name not in self.files:
                what = "the photo" if name == "photo" else "the mask (white = hole, the photo's size)"
                raise Refused(400, f"{name}: missing; send {what} as a file")

    def choice(self, default_model: str) -> Choice:
        given = {k: v for k, v in self.fields.items() if v}
        return Choice(**{"model": default_model, **given})


async def receive_form(request: Request, folder: Path, limits: Limits) -> Form:
    """The request's multipart form, its files written into ``folder``; a body larger than two
    files' limit is refused as it arrives, before any more of it is stored."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise Refused(400, "send the photo and the mask as multipart/form-data files (fields photo and mask; "
                           "optional model, aligner, blend, refine)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.body_bytes:
        raise Refused(413, f"the request is {_size(int(declared))}, over this server's limit of "
                           f"{_size(limits.max_bytes)} per file (gfc-kit serve --max-bytes)")
    form = Form(folder, limits.max_bytes)
    parser = MultipartParser(params[b"boundary"], form.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limits.body_bytes:
                raise Refused(413, f"the request is over {_size(limits.body_bytes)}, more than this server's "
                                   f"limit of {_size(limits.max_bytes)} per file allows (gfc-kit serve --max-bytes)")
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise Refused(400, f"the request is not valid multipart/form-data: {exc}") from None
    except ClientDisconnect:
        raise Refused(400, "the upload was cut off before its end") from None
    finally:
        form.close()
    form.check()
    return form


class Engine:
    """The models and components a server has loaded. :meth:`complete` runs in the app's single
    worker thread only, so completions run one at a time (each uses every core through torch, and
    two at once would only double the memory) and the caches need no lock."""

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self._components: dict[tuple[str, str], Any] = {}

    def default_model(self) -> str:
        from gfc_kit.inference.model_folder import DEFAULT_MODEL
        from gfc_kit.plugins import registry

        names = [m.name for m in registry().models()]
        return DEFAULT_MODEL if DEFAULT_MODEL in names or not names else names[0]

    def options(self) -> dict[str, Any]:
        """What the page offers: the installed models (and whether each was trained on aligned
        faces, which an aligner needs) and the aligners, blenders and refiners by name."""
        from gfc_kit.inference import read_model_json
        from gfc_kit.plugins import registry

        models = []
        for entry in registry().models():
            try:
                meta = read_model_json(entry.folder)
            except GfcError as exc:
                log.warning("model %s left out: %s", entry.name, exc)
                continue
            models.append({"name": entry.name, "image_size": meta["image_size"],
                           "faces": meta.get("face_layout", {}) is not None, "source": entry.source})
        blenders, refiners = registry().names("blender"), registry().names("refiner")
        defaults = Choice(self.default_model())
        return {"models": models, "aligners": ["none", *registry().names("aligner")], "blenders": blenders,
                "refiners": refiners,
                "defaults": {"model": defaults.model, "aligner": "none",
                             "blend": defaults.blend if defaults.blend in blenders else blenders[0],
                             "refine": defaults.refine if defaults.refine in refiners else refiners[0]}}

    def complete(self, folder: Path, files: dict[str, Path], choice: Choice, limits: Limits) -> bytes:
        """The completed photo as PNG bytes, at the photo's size, channels and bit depth.

        Without an aligner a fully convolutional model (``size_multiple`` set) completes a crop
        around the hole at the photo's own scale (``crop="hole"``): ``auto`` would give a photo
        that is not 178:218 the centre square, and a hole outside it would be refused. A model of
        fixed size, or one given an aligner, keeps ``auto`` (the CelebA crop or the centre square)."""
        from gfc_kit.inference import PhotoCompleter
        from gfc_kit.inference.photos import read_photo, write_photo

        for name in FILES:
            check_image(files[name], name, limits.max_pixels)
        photo = read_photo(files["photo"])
        hole = read_hole(files["mask"], photo.shape[:2])
        completer = self.model(choice.model)
        aligner = None if choice.aligner == "none" else self.component("aligner", choice.aligner, "aligner")
        if aligner is not None and completer.layout is None:
            raise Refused(400, f"aligner: model {choice.model} was not trained on aligned faces; choose aligner none")
        crop = "hole" if completer.size_multiple is not None and aligner is None else "auto"
        photos = PhotoCompleter(completer, self.component("blender", choice.blend, "blend"), aligner, crop=crop,
                                refiner=self.component("refiner", choice.refine, "refine"))
        started = time.perf_counter()
        done = photos(photo, hole, name="photo")
        log.info("completed a %d×%d photo (hole %.1f%%) with %s, aligner %s, blend %s, refine %s in %.2f s",
                 photo.shape[1], photo.shape[0], 100 * hole.mean(), choice.model, choice.aligner, choice.blend,
                 choice.refine, time.perf_counter() - started)
        png = write_photo(folder / "completed.png", done).read_bytes()
        _release_free_memory()
        return png

    def model(self, name: str) -> Any:
        """The named model, loaded on first use and kept (a handful of models, tens of MB each)."""
        if name not in self._models:
            from gfc_kit.inference import ModelCompleter
            from gfc_kit.plugins import registry

            self._models[name] = ModelCompleter.from_run(registry().model(name, "model").folder)
        return self._models[name]

    def component(self, kind: str, name: str, field: str) -> Any:
        """The ``kind`` component registered as ``name``, built on first use; ``field`` names the
        form field in errors."""
        if (kind, name) not in self._components:
            from gfc_kit.factory import create

            try:
                self._components[kind, name] = create(kind, name)
            except GfcError as exc:
                raise Refused(400, f"{field}: {exc}") from None
        return self._components[kind, name]


def check_image(path: Path, field: str, max_pixels: int) -> None:
    """Refuse an upload that is not an image (400) or has more than ``max_pixels`` (413), from its
    header alone, before anything is decoded."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Image.DecompressionBombError as exc:
        raise Refused(413, f"{field}: too many pixels ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise Refused(400, f"{field}: not an image this server can read (PNG, JPEG, WebP, TIFF, BMP or GIF)") from None
    if width * height > max_pixels:
        raise Refused(413, f"{field}: {width}×{height} is {width * height / 1e6:.1f} megapixels, over this server's "
                           f"limit of {max_pixels / 1e6:.1f} megapixels (gfc-kit serve --max-pixels)")


def read_hole(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The mask upload as an ``H×W`` bool hole (white, >= 128, is the hole) for a photo of ``shape``;
    a mask of the photo's shape but another size (e.g. drawn on a preview) is resized, nearest."""
    from gfc_kit.imaging import hole_array

    height, width = shape
    try:
        with Image.open(path) as image:
            gray = image.convert("L")
    except (OSError, ValueError, SyntaxError) as exc:
        raise Refused(400, f"mask: cannot read: {exc}") from None
    if abs(gray.width / gray.height - width / height) > 0.01 * width / height:
        raise Refused(400, f"mask: {gray.width}×{gray.height} is not the shape of the {width}×{height} photo; "
                           "draw the mask on the photo")
    hole = hole_array(gray, "mask", (width, height))
    if not hole.any():
        raise Refused(400, "mask: has no hole pixel (white marks the hole); brush over what to complete")
    return hole


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: any free port), so a port in use is a clear
    error before the server starts, and the port actually bound is known for the ``Host`` check."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise GfcError(f"--host {host} --port {port}: cannot listen there ({exc.strerror}); choose another --port"
                       ) from None
    sock.listen(64)
    return sock


def keep_memory_flat() -> None:
    """Make glibc hand large blocks back to the system as soon as they are freed (Linux; a no-op
    elsewhere). By default glibc raises its mmap threshold after the first large free, up to 32 MiB,
    so from the second completion on torch's tensors (a 512×512 photo's features are tens of MB)
    come from the heap and stay resident: measured with benchmarks/serve_memory.py (512×512 photos),
    the server grew by 32–56 MB over 20 completions, and by 0–3 MB with the threshold fixed at
    16 MiB, for a few per cent more time per completion (pages of big tensors are mapped afresh).
    Process-wide, so ``gfc-kit serve`` calls it, not :func:`create_app`."""
    if _LIBC is not None and hasattr(_LIBC, "mallopt"):
        _LIBC.mallopt(_M_MMAP_THRESHOLD, 16 * 2**20)


def _release_free_memory() -> None:
    """Return the heap's free pages after a completion (about 30 MB less resident here)."""
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _glibc()
_M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number (malloc.h)."""


def _size(count: int) -> str:
    """A byte count as a person reads it."""
    if count < 10_000:
        return f"{count} bytes"
    if count < 10 * 2**20:
        return f"{count / 1024:.0f} KiB"
    return f"{count / 2**20:.1f} MiB"
