"""`fashion serve`: the HTTP API and the web app (FastAPI under uvicorn)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from fashion_model.errors import BadInput
from fashion_model.flows.cli.common import HomeOption, console
from fashion_model.home import Home

TOKEN_ENV = "FASHION_API_TOKEN"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(token_file: Path | None) -> str | None:
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise BadInput(f"--token-file {token_file}: {error.strerror or error}") from None
        if len(token) < 16:
            raise BadInput(f"--token-file {token_file}: the token must be at least 16 characters")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token and len(token) < 16:
        raise BadInput(f"{TOKEN_ENV}: the token must be at least 16 characters")
    return token or None


def _check_port(host: str, port: int) -> None:
    """Fail in one line, before any work, when the address cannot be bound."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            message = f"--host {host} --port {port}: cannot listen there ({error.strerror})"
            raise BadInput(message) from None


def serve_command(
    home: HomeOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help=f"File holding the API token [default ${TOKEN_ENV}]; "
            "required when --host is not loopback.",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (/api/v1, OpenAPI at /docs) and the web app (/) over the warehouse's
    snapshot: trends, competitor mix, visual search by upload, products, review, runs."""
    if not 1 <= port <= 65535:
        raise BadInput(f"--port {port}: must be between 1 and 65535")
    token = read_token(token_file)
    if not is_loopback(host) and token is None:
        raise BadInput(
            f"--host {host} is not loopback: give a token with --token-file F or {TOKEN_ENV} "
            "(every route but /api/v1/health then needs 'Authorization: Bearer TOKEN')"
        )
    _check_port(host, port)
    import uvicorn

    from fashion_model.service.app import create_app

    paths = Home.resolve(home)
    app = create_app(paths, token)
    console.print(
        f"serving {paths.root} on http://{host}:{port}/ (API /api/v1, docs /docs)"
        + ("; token required" if token else ""),
        highlight=False,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
