"""``gfc-kit serve``: the endpoints against a real server (uvicorn in a thread, plain urllib, so
nothing but the serve extra is needed), and the page itself driven in headless Chromium."""

from __future__ import annotations

import io
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

pytest.importorskip("starlette", reason="gfc-kit serve needs the serve extra: pip install -e '.[serve]'")
pytest.importorskip("python_multipart", reason="gfc-kit serve needs the serve extra: pip install -e '.[serve]'")
uvicorn = pytest.importorskip("uvicorn", reason="gfc-kit serve needs the serve extra: pip install -e '.[serve]'")

from gfc_kit.commands.cli import cli  # noqa: E402
from gfc_kit.serve.app import create_app, listen  # noqa: E402

MAX_BYTES = 200_000
MAX_PIXELS = 300 * 300


@contextmanager
def running(**limits: int) -> Iterator[str]:
    """A real server on a free port, in a thread; yields its URL."""
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app("127.0.0.1", port, **limits), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running(max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS) as url:
        yield url


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
            method: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body, for any status."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=120) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as answer:
        return answer.code, {k.lower(): v for k, v in answer.headers.items()}, answer.read()


def post(url: str, files: dict[str, bytes], fields: dict[str, str] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """``POST /complete`` with ``files`` and ``fields`` as multipart/form-data."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, content in files.items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.png"\r\n'
                   f"Content-Type: application/octet-stream\r\n\r\n".encode())
        body.write(content + b"\r\n")
    for name, value in (fields or {}).items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    body.write(f"--{boundary}--\r\n".encode())
    return request(url + "complete", body.getvalue(),
                   {"Content-Type": f"multipart/form-data; boundary={boundary}", **(headers or {})})


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def noise_photo(size: int = 96) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)


def box_hole(size: int = 96) -> np.ndarray:
    hole = np.zeros((size, size), dtype=bool)
    hole[30:52, 28:64] = True
    return hole


def face_photo(width: int = 200, height: int = 240) -> np.ndarray:
    """A drawn face (skin ellipse, hair, brows, eyes, nose, mouth) with a little grain, so that
    no flat area hides a changed pixel."""
    image = Image.new("RGB", (width, height), (70, 96, 128))
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 10, 170, 150), fill=(60, 40, 30))                     # hair
    draw.ellipse((42, 40, 158, 200), fill=(224, 178, 148))                  # face
    for x in (70, 130):
        draw.line((x - 16, 96, x + 14, 92), fill=(70, 45, 30), width=4)     # brows
        draw.ellipse((x - 12, 104, x + 12, 118), fill=(250, 250, 250))      # eyes
        draw.ellipse((x - 5, 105, x + 5, 117), fill=(60, 90, 140))
    draw.polygon(((100, 118), (92, 150), (108, 150)), fill=(200, 150, 124))  # nose
    draw.chord((78, 160, 122, 182), 0, 180, fill=(170, 60, 70))               # mouth
    grain = np.random.default_rng(1).integers(-6, 7, (height, width, 3))
    return np.clip(np.asarray(image).astype(int) + grain, 0, 255).astype(np.uint8)


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


# ---- the endpoints ---------------------------------------------------------------------------------------------


def test_the_page_is_served_and_loads_nothing_from_elsewhere(server: str) -> None:
    status, headers, body = request(server)
    page = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "<canvas" in page and 'id="complete"' in page
    assert "http://" not in page and "https://" not in page and "//" + "cdn" not in page
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "connect-src 'self'" in headers["content-security-policy"]


def test_options_list_what_is_installed(server: str) -> None:
    import json

    status, _, body = request(server + "api/options")
    options = json.loads(body)
    assert status == 200
    assert "gfc_celeba_128" in [m["name"] for m in options["models"]]
    assert options["aligners"][0] == "none"
    assert {"paste", "poisson"} <= set(options["blenders"]) and "residual" in options["refiners"]
    assert options["defaults"] == {"model": "gfc_celeba_128", "aligner": "none", "blend": "poisson",
                                   "refine": "residual"}
    assert (options["max_bytes"], options["max_pixels"]) == (MAX_BYTES, MAX_PIXELS)


@pytest.mark.parametrize("blend", ["paste", "poisson"])
def test_completes_a_photo_at_its_own_size(server: str, blend: str) -> None:
    from gfc_kit.factory import create
    from gfc_kit.inference.pipeline import distance_within

    photo, hole = noise_photo(), box_hole()
    status, headers, body = post(server, {"photo": png(photo), "mask": png(hole.astype(np.uint8) * 255)},
                                 {"model": "gfc_celeba_128", "aligner": "none", "blend": blend, "refine": "residual"})
    assert status == 200, body
    assert headers["content-type"] == "image/png"
    done = decode(body)
    assert done.shape == photo.shape
    changed = (done != photo).any(-1)
    margin = int(create("blender", blend).margin(hole))
    band = hole if margin == 0 else distance_within(hole, margin)
    assert not changed[~band].any()               # every pixel outside the blend band as sent
    assert changed[hole].mean() > 0.5


def test_an_upload_that_is_not_an_image_is_refused_by_name(server: str) -> None:
    mask = png(box_hole().astype(np.uint8) * 255)
    status, _, body = post(server, {"photo": b"%PDF-1.4 not a photo", "mask": mask})
    assert status == 400 and body.decode().startswith("photo: not an image")
    status, _, body = post(server, {"photo": png(noise_photo()), "mask": b"GIF89a broken"})
    assert status == 400 and body.decode().startswith("mask: not an image")


def test_bad_requests_get_one_line_saying_what_to_send(server: str) -> None:
    photo, mask = png(noise_photo()), png(box_hole().astype(np.uint8) * 255)
    status, _, body = post(server, {"photo": photo})
    assert (status, body.decode()) == (400, "mask: missing; send the mask (white = hole, the photo's size) as a file")
    status, _, body = post(server, {"photo": photo, "mask": mask}, {"blender": "paste"})
    assert status == 400 and body.decode().startswith("unexpected form field 'blender'")
    status, _, body = post(server, {"photo": photo, "mask": mask}, {"blend": "pastey"})
    assert (status, body.decode()) == (400, "blend: unknown blender 'pastey'; did you mean 'paste'?")
    status, _, body = post(server, {"photo": photo, "mask": png(np.zeros((96, 96), np.uint8))})
    assert status == 400 and body.decode().startswith("mask: has no hole pixel")
    status, _, body = request(server + "complete", b"photo=1", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and "multipart/form-data" in body.decode()


def test_an_upload_over_the_limits_is_refused_stating_the_limit(server: str) -> None:
    mask = png(box_hole().astype(np.uint8) * 255)
    status, _, body = post(server, {"photo": os.urandom(MAX_BYTES + 50_000), "mask": mask})
    assert status == 413
    assert body.decode() == "photo: 244 KiB is over this server's limit of 195 KiB per file (gfc-kit serve --max-bytes)"
    big = np.zeros((400, 400), np.uint8)
    big[100:200, 100:200] = 255
    status, _, body = post(server, {"photo": png(np.zeros((400, 400, 3), np.uint8)), "mask": png(big)})
    assert status == 413
    assert body.decode() == ("photo: 400×400 is 0.2 megapixels, over this server's limit of 0.1 megapixels "
                             "(gfc-kit serve --max-pixels)")


def test_a_host_other_than_this_server_is_refused(server: str) -> None:
    port = urlparse(server).port
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1"):
        status, _, body = request(server, headers={"Host": host})
        assert status == 400, host
        assert body.decode() == f"Host {host!r} is not this server; open {server}"
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert request(server, headers={"Host": host})[0] == 200, host


def test_a_post_from_another_site_is_refused(server: str) -> None:
    files = {"photo": png(noise_photo()), "mask": png(box_hole().astype(np.uint8) * 255)}
    status, _, body = post(server, files, headers={"Origin": "https://evil.example"})
    assert (status, body.decode()) == (403, f"a page of https://evil.example may not use this server; open {server}")
    assert post(server, files, {"blend": "paste"}, headers={"Origin": server.rstrip("/")})[0] == 200


def test_no_response_carries_a_cors_header(server: str) -> None:
    origin = {"Origin": "https://evil.example"}
    files = {"photo": png(noise_photo()), "mask": png(box_hole().astype(np.uint8) * 255)}
    answers = [request(server, headers=origin), request(server + "api/options", headers=origin),
               request(server + "complete", method="OPTIONS",
                       headers={**origin, "Access-Control-Request-Method": "POST"}),
               request(server, headers={"Host": "evil.example"}), post(server, files, {"blend": "paste"}),
               post(server, files, headers=origin), post(server, {"photo": b"x", "mask": b"y"})]
    for status, headers, _ in answers:
        assert not [h for h in headers if h.startswith("access-control-")], (status, headers)


def test_each_upload_folder_is_removed_after_its_answer(server: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[Path] = []

    class Recorded(tempfile.TemporaryDirectory):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            created.append(Path(self.name))

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempfile, "TemporaryDirectory", Recorded)
    photo, mask = png(noise_photo()), png(box_hole().astype(np.uint8) * 255)
    assert post(server, {"photo": photo, "mask": mask}, {"blend": "paste"})[0] == 200
    assert post(server, {"photo": b"not an image", "mask": mask})[0] == 400
    assert post(server, {"photo": os.urandom(MAX_BYTES + 1), "mask": mask})[0] == 413
    assert len(created) == 3 and all(folder.parent == tmp_path for folder in created)
    assert list(tmp_path.iterdir()) == []


def test_completions_run_one_at_a_time(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from gfc_kit.serve import app

    running_now, most = [0], [0]
    original = app.Engine.complete

    def watched(self, *args, **kwargs) -> bytes:
        running_now[0] += 1
        most[0] = max(most[0], running_now[0])
        time.sleep(0.15)
        try:
            return original(self, *args, **kwargs)
        finally:
            running_now[0] -= 1

    monkeypatch.setattr(app.Engine, "complete", watched)
    files = {"photo": png(noise_photo()), "mask": png(box_hole().astype(np.uint8) * 255)}
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(post(server, files, {"blend": "paste"})[0]))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200, 200, 200] and most[0] == 1


def test_serve_without_its_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert result.output.strip() == ("error: gfc-kit serve needs uvicorn: pip install -e '.[serve]' "
                                     "(or pip install 'gfc-kit[serve]')")


def test_serve_on_a_port_in_use_is_one_error_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: --host 127.0.0.1 --port {port}: cannot listen there (")
    assert len(result.output.strip().splitlines()) == 1


# ---- the page, in a real browser -------------------------------------------------------------------------------


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        pytest.skip("no Chromium found (apt install chromium): the page's browser test needs it")
    return found


def test_the_page_brushes_completes_compares_and_downloads_in_chromium(server: str, tmp_path: Path) -> None:
    """At CSS zoom 1.25 the stroke lands where it was drawn on the photo, only the pixels under it
    change, compare shows the original, the download is the server's PNG, errors are shown, and
    the page asks nothing of any host but this server."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the page's browser test needs playwright")
    executable = chromium_path()
    expect = sync_api.expect
    photo = face_photo()
    height, width = photo.shape[:2]
    photo_file = tmp_path / "face.png"
    Image.fromarray(photo).save(photo_file)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760}, accept_downloads=True)
            urls: list[str] = []
            problems: list[str] = []
            page.on("request", lambda r: urls.append(r.url))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: problems.append(m.text)  # the 400 below is logged as a failed load
                    if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
            page.goto(server)
            page.evaluate("document.body.style.zoom = '1.25'")
            assert page.evaluate("getComputedStyle(document.body).zoom") == "1.25"
            expect(page.locator("#model option")).not_to_have_count(0)  # no wait_for_function: the CSP forbids eval
            page.select_option("#blend", "paste")
            page.locator("#brush").fill("24")
            page.set_input_files("#file", str(photo_file))
            expect(page.locator("#frame")).to_have_class("shown")

            box = page.locator("#overlay").bounding_box()
            assert box is not None and abs(box["width"] / width - box["height"] / height) < 0.02

            def on_screen(x: float, y: float) -> tuple[float, float]:
                return box["x"] + (x + 0.5) * box["width"] / width, box["y"] + (y + 0.5) * box["height"] / height

            radius = 24 * width / box["width"] / 2  # the slider is in screen pixels
            (x0, y), x1 = (64, 124), 136
            page.mouse.move(*on_screen(x0, y))
            page.mouse.down()
            page.mouse.move(*on_screen(x1, y), steps=16)
            page.mouse.up()
            assert page.is_enabled("#complete")

            page.click("#undo")
            assert not page.is_enabled("#complete")
            page.click("#redo")
            with page.expect_response("**/complete") as answer:
                page.click("#complete")
            assert answer.value.status == 200
            expect(page.locator("#download")).to_have_attribute("aria-disabled", "false")
            with page.expect_download() as download:  # the image the page got (Playwright's body() of a fetch is empty here)
                page.click("#download")
            assert download.value.suggested_filename == "face-completed.png"
            done = decode(Path(download.value.path()).read_bytes())
            assert done.shape == photo.shape

            changed = (done != photo).any(-1)
            ys, xs = np.nonzero(changed)
            reach = radius + 3
            assert xs.min() >= x0 - reach and xs.max() <= x1 + reach, (xs.min(), xs.max(), radius)
            assert ys.min() >= y - reach and ys.max() <= y + reach, (ys.min(), ys.max(), radius)
            assert changed[y, x0:x1 + 1].mean() > 0.6    # the stroke's centre line was filled

            pixel = "([x, y]) => Array.from(document.getElementById('view').getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3))"
            probe = (100, y)
            assert page.evaluate(pixel, list(probe)) == done[probe[1], probe[0]].tolist()
            page.keyboard.down("Space")
            assert page.evaluate(pixel, list(probe)) == photo[probe[1], probe[0]].tolist()
            assert page.is_visible("#badge")
            page.keyboard.up("Space")
            assert page.evaluate(pixel, list(probe)) == done[probe[1], probe[0]].tolist()

            # A server error reaches the person: a fixed-size model sees the centre square only.
            page.click("#clear")
            page.select_option("#model", "gfc_celeba_cpu")
            page.mouse.move(*on_screen(20, 4))
            page.mouse.down()
            page.mouse.move(*on_screen(60, 4), steps=4)
            page.mouse.up()
            with page.expect_response("**/complete") as answer:
                page.click("#complete")
            assert answer.value.status == 400
            expect(page.locator("#status")).to_have_class("error")
            shown = page.text_content("#status")
            assert shown.startswith("400: photo: the hole at") and answer.value.text().strip() in shown
        finally:
            browser.close()

    assert not problems, problems
    hosts = {urlparse(u[len("blob:"):] if u.startswith("blob:") else u).hostname for u in urls}
    assert hosts == {"127.0.0.1"}, urls
