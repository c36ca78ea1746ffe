"""``gfc-kit serve``: the brush-and-complete page on this machine (the app is :mod:`gfc_kit.serve.app`)."""

from __future__ import annotations

import ipaddress

import click

from gfc_kit.errors import GfcError
from gfc_kit.serve import DEFAULT_HOST, DEFAULT_PORT, MAX_BYTES, MAX_PIXELS


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. The default lets only this machine in; the page has no login, so "
                   "another address lets in whoever can reach it.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on (0: any free one).")
@click.option("--max-bytes", type=click.IntRange(1), default=MAX_BYTES, show_default=True,
              help="Largest photo or mask file accepted, in bytes (larger: 413).")
@click.option("--max-pixels", type=click.IntRange(1), default=MAX_PIXELS, show_default=True,
              help="Largest photo or mask accepted, in pixels (larger: 413).")
def serve(host: str, port: int, max_bytes: int, max_pixels: int) -> None:
    """Open a local web page to brush a hole on a photo, complete it and download the result."""
    try:
        import python_multipart  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise GfcError(f"gfc-kit serve needs {exc.name}: pip install -e '.[serve]' "
                       "(or pip install 'gfc-kit[serve]')") from None
    from gfc_kit.serve.app import create_app, keep_memory_flat, listen

    sock = listen(host, port)
    keep_memory_flat()
    bound = sock.getsockname()[1]
    if not _loopback(host):
        click.echo(f"warning: --host {host}: anyone who can reach this address can use the page (it has no login)",
                   err=True)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"gfc-kit serve: open http://{shown if not _wildcard(host) else '127.0.0.1'}:{bound}/ "
               "(Ctrl+C stops it)")
    app = create_app(host, bound, max_bytes, max_pixels)
    uvicorn.Server(uvicorn.Config(app, log_level="info")).run(sockets=[sock])


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")
