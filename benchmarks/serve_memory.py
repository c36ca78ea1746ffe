"""Does ``gfc-kit serve`` hold on to memory per completion? Starts the server in a subprocess,
posts 20 completions in a row (a 512×512 synthetic photo, the default model and components) and
prints the server's resident memory (VmRSS, Linux) after the first and the last, and the growth.

    python benchmarks/serve_memory.py [--count 20] [--size 512]

The target is a growth under 50 MB: the first completion loads the model and warms torch's
allocator, later ones should reuse that memory.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def rss_mb(pid: int) -> float:
    """The process's resident memory in MB, from /proc/PID/status."""
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    if match is None:
        raise SystemExit(f"no VmRSS for process {pid} (Linux only)")
    return int(match.group(1)) / 1024


def photo_and_mask(size: int, shift: int) -> tuple[bytes, bytes]:
    """A drawn face with some grain, and a hole over its eyes moved by ``shift`` pixels, as PNGs."""
    image = Image.new("RGB", (size, size), (70, 96, 128))
    draw = ImageDraw.Draw(image)
    s = size / 256
    draw.ellipse((60 * s, 30 * s, 196 * s, 236 * s), fill=(224, 178, 148))
    for x in (100, 156):
        draw.ellipse(((x - 12) * s, 110 * s, (x + 12) * s, 124 * s), fill=(60, 90, 140))
    draw.chord((104 * s, 170 * s, 152 * s, 196 * s), 0, 180, fill=(170, 60, 70))
    grain = np.random.default_rng(0).integers(-8, 9, (size, size, 3))
    photo = np.clip(np.asarray(image).astype(int) + grain, 0, 255).astype(np.uint8)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((size * 0.3 + shift, size * 0.4, size * 0.7 + shift, size * 0.52),
                                           radius=size // 40, fill=255)
    out = []
    for picture in (Image.fromarray(photo), mask):
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out[0], out[1]


def post(url: str, photo: bytes, mask: bytes) -> bytes:
    boundary = uuid.uuid4().hex
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n" for name, data in (("photo", photo), ("mask", mask))
    ) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "complete", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=300) as answer:
        return answer.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--verbose", action="store_true", help="Print the memory after every completion.")
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, "-m", "gfc_kit", "serve", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        found = re.search(r"open (http://\S+/)", line)
        if found is None:
            raise SystemExit(f"the server did not start: {line!r}")
        url = found.group(1)
        print(f"server {url} (pid {server.pid}), idle: {rss_mb(server.pid):.0f} MB")
        first = None
        started = time.perf_counter()
        for i in range(args.count):
            photo, mask = photo_and_mask(args.size, shift=(i % 5) * 4)
            png = post(url, photo, mask)
            assert png.startswith(b"\x89PNG")
            if i == 0:
                first = rss_mb(server.pid)
                print(f"after completion 1: {first:.0f} MB")
            elif args.verbose:
                print(f"after completion {i + 1}: {rss_mb(server.pid):.0f} MB")
        last = rss_mb(server.pid)
        seconds = (time.perf_counter() - started) / args.count
        print(f"after completion {args.count}: {last:.0f} MB")
        print(f"growth from the 1st to the {args.count}th: {last - first:+.1f} MB "
              f"({args.size}×{args.size} photo, {seconds:.2f} s per completion)")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
