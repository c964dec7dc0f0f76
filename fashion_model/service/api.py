"""The HTTP API, versioned under /api/v1 (OpenAPI at /docs): JSON answers over the snapshot,
each saying what it read (`warehouse`). Errors are JSON `{"error": message}` (app.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from fashion_model.config import SIMILAR_K
from fashion_model.errors import BadInput
from fashion_model.review.signing import ROUTE, check_link
from fashion_model.service import queries
from fashion_model.service.uploads import save_upload
from fashion_model.urls import url_refusal

router = APIRouter(prefix="/api/v1")
K = Annotated[int, Query(description="How many products (1-1000).")]
Same = Annotated[list[str] | None, Query(description="Tasks the results share a label of.")]
Space = Annotated[str, Query(description="embedding (cosine) or logits (Euclidean distance).")]


def _source(request: Request):
    return request.app.state.source


def _answer(request: Request, build) -> JSONResponse:
    """Run `build(cursor)` on a cursor of its own; the answer says what it read."""
    source = _source(request)
    cur, snapshot = source.cursor()
    try:
        body = build(cur)
    finally:
        cur.close()
    return JSONResponse({"warehouse": source.describe(snapshot), **body})


def _csv(text: str, name: str) -> Response:
    disposition = f'attachment; filename="{name}.csv"'
    return Response(text, media_type="text/csv", headers={"Content-Disposition": disposition})


@router.get("/health")
def health(request: Request) -> dict:
    """Liveness, and what the server reads (no token needed)."""
    source = _source(request)
    try:
        return {"status": "ok", "warehouse": source.describe()}
    except Exception as error:  # noqa: BLE001 - health reports, never raises
        return {"status": "degraded", "error": str(error).splitlines()[0]}


@router.get("/models")
def models(request: Request) -> JSONResponse:
    """The registered model versions (`warehouse.model_version` is the one it serves)."""
    return _answer(request, lambda cur: {"models": queries.models(_source(request).home)})


@router.get("/queries")
def query_list(request: Request) -> dict:
    """Every shipped query with its parameters (defaults and help)."""
    return {"queries": queries.query_list()}


@router.get("/queries/{name}")
def run_query(request: Request, name: str, format: str = "json") -> Response:  # noqa: A002
    """Run a shipped query: `?param=value` as `fashion sql NAME --param` takes them, same
    checks; `format=csv` for CSV."""
    if format not in ("json", "csv"):
        raise BadInput(f"format {format!r} is not one of json, csv")
    params = {k: v for k, v in request.query_params.items() if k != "format"}
    source = _source(request)
    cur, snapshot = source.cursor()
    try:
        frame = queries.report(cur, name, params)
    finally:
        cur.close()
    if format == "csv":
        return _csv(frame.to_csv(index=False), name)
    body = {"query": name, "rows": queries.records(frame)}
    return JSONResponse({"warehouse": source.describe(snapshot), **body})


@router.get("/trends")
def trends(
    request: Request,
    task: str = "pattern",
    retailer: str | None = None,
    brand: str | None = None,
    by: str = "month",
    basis: str = "first_seen",
    format: str = "json",  # noqa: A002
) -> Response:
    """Share of each attribute of a task per month or week, with the biggest mover."""
    if format not in ("json", "csv"):
        raise BadInput(f"format {format!r} is not one of json, csv")
    source = _source(request)
    cur, snapshot = source.cursor()
    try:
        result = queries.trends(cur, task, retailer or None, brand or None, by, basis)
    finally:
        cur.close()
    if format == "csv":
        return _csv(result["table"].to_csv(), task)
    body = {"task": task, "by": by, **queries.trend_json(result)}
    return JSONResponse({"warehouse": source.describe(snapshot), **body})


@router.get("/products/{retailer}/{product_id}")
def product(request: Request, retailer: str, product_id: str) -> JSONResponse:
    """A product: catalog fields, attributes, images, price history, equivalents."""

    def build(cur):
        from fashion_model.match.index import served_version

        found = queries.product(cur, served_version(cur), retailer, product_id)
        found["prices"] = queries.records(found["prices"])
        for image in found["images"]:
            sha = image["image_sha256"]
            image["url"] = f"/api/v1/images/{sha}" if sha else None
        return found

    return _answer(request, build)


@router.get("/similar")
def similar_product(
    request: Request,
    product_id: str,
    retailer: str | None = None,
    k: K = SIMILAR_K,
    in_retailer: str | None = None,
    same: Same = None,
    space: Space = "embedding",
) -> JSONResponse:
    """The products most similar to a stored product (its first image)."""
    db = _source(request).db
    return _answer(request, lambda cur: queries.similar_to_product(
        cur, db, retailer, product_id, k, in_retailer, same or [], space))  # fmt: skip


@router.post("/similar")
async def similar_image(
    request: Request,
    image: Annotated[UploadFile, File(description="A product photo (JPEG, PNG, WebP; 20 MB).")],
    k: K = SIMILAR_K,
    in_retailer: str | None = None,
    same: Same = None,
    space: Space = "embedding",
) -> JSONResponse:
    """The products most similar to an uploaded photo, and the photo's predicted labels."""
    source = _source(request)
    with tempfile.TemporaryDirectory(prefix="fashion-serve-") as folder:
        path = await save_upload(image, Path(folder), 0)

        def build(cur):
            found, query = queries.similar_to_image(
                cur, source, str(path), k, in_retailer, same or [], space, Path(folder) / "s"
            )
            labels = {task: sorted(ids) for task, ids in query.labels.items()}
            return {**found, "query_labels": labels}

        return await run_in_threadpool(_answer, request, build)  # the model runs off the loop


@router.post("/predict")
async def predict(
    request: Request,
    images: Annotated[list[UploadFile] | None, File(description="Photos (20 MB each).")] = None,
    urls: Annotated[list[str] | None, Form(description="http(s) image URLs.")] = None,
) -> JSONResponse:
    """Labels by task, with scores and thresholds, for uploaded photos and/or URLs (URLs go
    through the downloader's SSRF guard: public hosts only)."""
    source = _source(request)
    if not images and not urls:
        raise BadInput("send at least one image (field 'images') or URL (field 'urls')")
    if len(images or []) + len(urls or []) > 32:
        raise BadInput("at most 32 images per request")
    for url in urls or []:
        if refusal := url_refusal(url):
            raise BadInput(f"url {url[:80]!r}: {refusal}")
    with tempfile.TemporaryDirectory(prefix="fashion-serve-") as folder:
        paths = [str(await save_upload(u, Path(folder), i)) for i, u in enumerate(images or [])]

        def build(cur):
            from fashion_model.match.similar import resolve_model

            version = resolve_model(cur, None)
            found = queries.predictions(source, version, paths + list(urls or []))
            names = [u.filename or f"upload {i + 1}" for i, u in enumerate(images or [])]
            for entry, name in zip(found, names + list(urls or []), strict=True):
                entry["image"] = name
            return {"model_version": version, "results": found}

        return await run_in_threadpool(_answer, request, build)


@router.get("/runs")
def runs(request: Request, limit: int = 30) -> JSONResponse:
    """The last nightly runs, newest first, with their flags."""
    if not 1 <= limit <= 1000:
        raise BadInput(f"limit must be between 1 and 1000, got {limit}")
    return _answer(request, lambda cur: {"runs": queries.records(queries.runs(cur, limit))})


@router.get("/images/{sha256}")
def image(request: Request, sha256: str) -> FileResponse:
    """A stored image, by its content hash only."""
    return _image(request, sha256)


def _image(request: Request, sha256: str) -> FileResponse:
    source = _source(request)
    cur, _ = source.cursor()
    try:
        path = queries.image_file(cur, source.home.images, sha256)
    finally:
        cur.close()
    return FileResponse(path, media_type="image/jpeg",
                        headers={"Cache-Control": "public, max-age=86400, immutable"})  # fmt: skip


# Reviewers' browsers (Label Studio shows the picture) send no token: a pushed task's image link
# is signed instead (fashion_model/review/signing.py); it opens that image until it expires.
links = APIRouter()


@links.get(ROUTE + "{sha256}", include_in_schema=False)
def review_image(request: Request, sha256: str, expires: int, signature: str):
    try:
        check_link(_source(request).home.root, sha256, expires, signature)
    except PermissionError as error:
        return JSONResponse({"error": str(error)}, 403)
    return _image(request, sha256)
