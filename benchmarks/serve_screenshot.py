"""The screenshot of ``gfc-kit serve`` in docs/serving.md and the README: the page after brushing
out the name tag of scikit-image's public-domain ``astronaut`` photo (NASA; it ships in the
scikit-image wheel, so nothing is downloaded), taken in headless Chromium through Playwright.

    python benchmarks/serve_screenshot.py [--output docs/images/serve.png]

Needs the serve extra, playwright, scikit-image and Debian's ``chromium``.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
STROKE = ((284, 348), (326, 348), (326, 366), (284, 366))
"""Two passes over the name tag of the 512×512 photo, in its pixels."""
BRUSH = 30
"""Brush diameter in screen pixels."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images" / "serve.png")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright
    from skimage import data

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    server = subprocess.Popen([sys.executable, "-m", "gfc_kit", "serve", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        found = re.search(r"open (http://\S+/)", server.stdout.readline())
        if found is None:
            raise SystemExit("gfc-kit serve did not start")
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
            photo = Path(tmp) / "astronaut.png"
            Image.fromarray(data.astronaut()).save(photo)
            browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                                 args=["--no-sandbox"] if os.geteuid() == 0 else [])
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.goto(found.group(1))
            expect(page.locator("#model option")).not_to_have_count(0)
            page.locator("#brush").fill(str(BRUSH))
            page.set_input_files("#file", str(photo))
            expect(page.locator("#frame")).to_have_class("shown")
            box = page.locator("#overlay").bounding_box()
            width, height = Image.open(photo).size

            def on_screen(x: float, y: float) -> tuple[float, float]:
                return box["x"] + (x + 0.5) * box["width"] / width, box["y"] + (y + 0.5) * box["height"] / height

            page.mouse.move(*on_screen(*STROKE[0]))
            page.mouse.down()
            for point in STROKE[1:]:
                page.mouse.move(*on_screen(*point), steps=8)
            page.mouse.up()
            page.click("#complete")
            expect(page.locator("#download")).to_have_attribute("aria-disabled", "false", timeout=120_000)
            page.mouse.move(5, 700)  # the brush ring off the photo
            shot = Image.open(io.BytesIO(page.screenshot()))
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    # 256 colours keep the PNG small (the page is flat colours; the photo dithers well)
    shot.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
        args.output, optimize=True)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
