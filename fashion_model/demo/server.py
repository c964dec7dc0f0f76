"""A loopback-only aiohttp static file server for the synthetic catalog's images."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from fashion_model.errors import BadInput


def _check_loopback(host: str) -> None:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        raise BadInput(f"--host {host!r} does not resolve") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise BadInput(f"--host {host!r} is not a loopback address; this server is local only")


def make_app(root: Path) -> web.Application:
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"{root}: image folder not found")
    app = web.Application()
    # add_static refuses paths that leave `root` and does not follow symlinks out of it.
    app.router.add_static("/", root, show_index=False, follow_symlinks=False)
    return app


def free_port(host: str = "127.0.0.1", port: int = 0) -> int:
    """`port` if it is free (0 picks any free one); 0 when the asked-for port is taken."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return 0
        return sock.getsockname()[1]


def serve_images(root: Path, port: int = 8765, host: str = "127.0.0.1") -> None:
    """Serve `root` until interrupted (the `fashion serve-images` command)."""
    _check_loopback(host)
    web.run_app(make_app(root), host=host, port=port, print=None, handle_signals=True)


@contextmanager
def running_image_server(root: Path, port: int = 0, host: str = "127.0.0.1"):
    """Serve `root` from a background thread for the duration of the block; yields the base URL."""
    with running_app(make_app(root), port, host) as base_url:
        yield base_url


@contextmanager
def running_app(app: web.Application, port: int = 0, host: str = "127.0.0.1"):
    """Run an aiohttp app on loopback in a background thread; yields its base URL."""
    _check_loopback(host)
    port = port or free_port(host)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, host, port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="image-server", daemon=True)
    thread.start()
    if not ready.wait(timeout=30):
        raise BadInput(f"server did not start on {host}:{port}")
    try:
        yield f"http://{host}:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
