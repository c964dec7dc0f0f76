"""`fashion serve`: one FastAPI application, the API (api.py) and the web app (pages.py).

Security: the CLI binds loopback by default; on another address a token is required for every
route but the health check (`Authorization: Bearer TOKEN`, Basic auth with the token as the
password as Label Studio sends it, or the cookie the /login page sets for a browser) and a
reviewer's signed image link (review/signing.py). Request bodies over MAX_BODY are refused
before they are read. Errors are JSON `{"error": message}` (or an HTML page for the web app),
never a stack trace: BadInput is 400 (413 for an upload over the limit), an unknown product,
query or image 404, a warehouse that cannot answer 503, anything else 500 with the traceback in
the server's log only.
"""

from __future__ import annotations

import base64
import hmac
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.routing import Match

from fashion_model import __version__
from fashion_model.errors import BadInput, FashionError, NotFound
from fashion_model.home import Home
from fashion_model.review.signing import ROUTE as REVIEW_LINKS
from fashion_model.service import api, mlbackend, pages
from fashion_model.service.pages import TOKEN_COOKIE
from fashion_model.service.source import Source
from fashion_model.service.uploads import MAX_BODY, TooLarge

log = logging.getLogger("fashion.serve")
RETRY_AFTER = 30  # seconds a client waits before asking a warehouse that could not answer again
OPEN_PATHS = ("/api/v1/health", "/login", "/static/", REVIEW_LINKS)


def create_app(home: Home, token: str | None = None, prepare: bool = True) -> FastAPI:
    """The application over `home`'s warehouse snapshot and registry; `token` required on
    every route but OPEN_PATHS when given."""
    source = Source(home)
    if prepare:
        log.info(source.prepare())
    app = FastAPI(
        title="fashion attributes",
        version=__version__,
        description="Predicted product attributes, trends, competitor mix and visual search "
        "over the nightly warehouse.",
    )
    app.state.source = source
    app.state.token = token
    app.include_router(api.router)
    app.include_router(api.links)
    app.include_router(mlbackend.router)
    derived = app.openapi
    app.openapi = lambda: app.openapi_schema or api.patch_contract(derived())
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(packages=[("fashion_model.service", "static")]), "static")

    @app.middleware("http")
    async def guard(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY:
            return _error(request, 413, f"request body over {MAX_BODY // (1024 * 1024)} MB")
        if token and not request.url.path.startswith(OPEN_PATHS):
            supplied = _supplied_token(request)
            if not hmac.compare_digest(supplied.encode(), token.encode()):
                if _wants_html(request):
                    return RedirectResponse(f"/login?next={request.url.path}", 303)
                return JSONResponse(
                    {"error": "missing or wrong token: send 'Authorization: Bearer TOKEN'"},
                    401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)

    @app.exception_handler(FashionError)
    async def fashion_error(request: Request, error: FashionError):
        if isinstance(error, TooLarge):
            return _error(request, 413, str(error))
        status = 404 if isinstance(error, NotFound) else 400 if isinstance(error, BadInput) else 503
        retry = {"Retry-After": str(RETRY_AFTER)} if status == 503 else None
        return _error(request, status, str(error), retry)

    @app.exception_handler(LookupError)
    async def not_found(request: Request, error: LookupError):
        return _error(request, 404, str(error).strip("'\""))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ())[1:]) or "request"
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
        return _error(request, 400, "; ".join(problems) or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        headers = error.headers
        if error.status_code == 405:  # every method of the path, not only the first route's
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
        return _error(request, error.status_code, str(error.detail), headers)

    @app.exception_handler(Exception)
    async def crash(request: Request, error: Exception):
        log.exception("error serving %s", request.url.path)
        return _error(request, 500, f"internal error ({type(error).__name__}); see the server log")

    return app


def _allowed(request: Request) -> list[str]:
    """The methods the routes of this request's path answer (RFC 9110's Allow of a 405),
    asked of the router itself: routers nest in included routers."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _supplied_token(request: Request) -> str:
    """Bearer TOKEN (API clients), Basic with the token as password (Label Studio's ML backend
    settings), or the web app's cookie."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return ""
    return request.cookies.get(TOKEN_COOKIE, "")


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def _error(request: Request, status: int, message: str, headers: dict | None = None):
    """One error answer; `headers` kept (405's Allow, 401's WWW-Authenticate)."""
    first = message.strip().splitlines()[0] if message.strip() else "error"
    if _wants_html(request):
        return HTMLResponse(pages.error_page(request, status, first), status, headers=headers)
    return JSONResponse({"error": first}, status, headers=headers)
