"""A local HTTP server for the download benchmarks, in a process of its own.

nginx (Debian's package) when it is installed, so that serving costs little CPU next to the
downloader being measured; otherwise an aiohttp static server in a separate process.
`single_file` answers every path with that one file (for runs of 100,000 distinct URLs).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

NGINX_CONF = """
daemon off;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ image/jpeg jpg; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ {location} }}
    }}
}}
"""

AIOHTTP_SERVER = """
import sys
from pathlib import Path
from aiohttp import web
root, port, single = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
app = web.Application()
if single:
    body = (root / single).read_bytes()
    async def one(request):
        return web.Response(body=body, content_type="image/jpeg")
    app.router.add_get("/{tail:.*}", one)
else:
    app.router.add_static("/", root)
web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the benchmark server exited with code {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the benchmark server did not listen on port {port}")


@contextmanager
def serve(root: Path, single_file: str | None = None, kind: str = "auto"):
    """Yield (base URL, server name) for `root`, served from a separate process."""
    port = _free_port()
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).exists()), None
    )
    use_nginx = kind == "nginx" or (kind == "auto" and nginx)
    if use_nginx and not nginx:
        raise SystemExit("--server nginx: nginx is not installed (apt-get install nginx-light)")
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        if use_nginx:
            location = f"try_files /{single_file} =404;" if single_file else "try_files $uri =404;"
            conf = Path(tmp) / "nginx.conf"
            conf.write_text(
                NGINX_CONF.format(
                    workers=1, tmp=tmp, port=port, root=Path(root).resolve(), location=location
                )
            )
            command = [nginx, "-c", str(conf), "-p", tmp]
            name = "nginx (1 worker)"
        else:
            command = [
                sys.executable,
                "-c",
                AIOHTTP_SERVER,
                str(root),
                str(port),
                single_file or "",
            ]
            name = "aiohttp (separate process; nginx not installed)"
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            _wait_for(port, process)
            yield f"http://127.0.0.1:{port}", name
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
