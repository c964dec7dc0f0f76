"""The HTTP API, versioned under /api/v1 (OpenAPI at /docs): JSON answers over the snapshot,
each saying what it read (`warehouse`). Errors are JSON `{"error": message}` (app.py)."""

from __future__ import annotations

import inspect
import re
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from fashion_model.analytics.reports import describe_report, list_reports, report_path
from fashion_model.config import SIMILAR_K
from fashion_model.errors import BadInput
from fashion_model.labels import default_label_map
from fashion_model.review.signing import ROUTE, check_link
from fashion_model.service import queries
from fashion_model.service.uploads import save_upload
from fashion_model.sqlfiles import (
    COLOR_HINT,
    COLOR_PATTERN,
    DATE_HINT,
    REQUIRED,
    declared_choices,
)
from fashion_model.urls import url_refusal


class Error(BaseModel):
    """Every error answer: one line saying what is wrong."""

    error: str


# What any route may answer besides its success: the contract a generated client relies on.
ERRORS: dict[int | str, dict] = {
    code: {"model": Error, "description": text}
    for code, text in {
        400: "bad input: a parameter, body or file that cannot be used (the line says which)",
        401: "missing or wrong token (a server off loopback)",
        404: "no such product, image, query or retailer",
        413: "request body over 20 MB",
        503: "the warehouse cannot answer now (no snapshot yet, or a writer holds it); "
        "Retry-After says when to ask again",
    }.items()
}
ERRORS[503]["headers"] = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}
router = APIRouter(prefix="/api/v1", responses=ERRORS)
TaskName = Literal[tuple(default_label_map().tasks)]  # the label map's eight tasks
Format = Literal["json", "csv"]
Name = Annotated[str, Path(min_length=1, max_length=200)]
Filter = Annotated[str | None, Query(min_length=1, max_length=200)]
K = Annotated[int, Query(ge=1, le=1000, description="How many products (1-1000).")]
Same = Annotated[list[TaskName] | None, Query(description="Tasks the results share a label of.")]
Space = Annotated[
    Literal["embedding", "logits"],
    Query(description="embedding (cosine) or logits (Euclidean distance)."),
]
Sha256 = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="The image's sha256.")]


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


CSV_OR_JSON = {200: {"content": {"application/json": {}, "text/csv": {}}}}


def _run_query(request: Request, name: str, params: dict, format: str) -> Response:  # noqa: A002
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


DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
MAX_NUMBER = 100_000  # a count or a threshold of a shipped query (SQL INTEGER and beyond refused)


def _parameter(name: str, default: str | None, help_text: str) -> inspect.Parameter:
    """A shipped query's declared `-- @param` as a typed query parameter of its route: the
    choices it lists, a date, a number (with decimals when its default has them; bounded by
    "at most N" / "up to N"), or text; REQUIRED ones required."""
    choices = declared_choices(help_text)
    bound = re.search(r"(?:at most|up to) ([0-9.]+)", help_text)
    kind: object = str
    extra: dict = {"min_length": 1, "max_length": 200}
    if choices:
        kind, extra = Literal[tuple(choices)], {}
    elif DATE_HINT in help_text:  # checked as a real date by the query's own binding
        extra = {"pattern": DATE_PATTERN, "json_schema_extra": {"format": "date"}}
    elif COLOR_HINT in help_text:
        extra = {"pattern": COLOR_PATTERN}
    elif default and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", default):
        kind = float if "." in default else int
        extra = {"ge": 0, "le": kind(bound.group(1)) if bound else MAX_NUMBER}
    value = (
        inspect.Parameter.empty
        if default == REQUIRED
        else None
        if default is None
        else kind(default)
        if kind in (int, float)
        else default
    )
    annotation = Annotated[
        kind if value is not None else kind | None, Query(description=help_text, **extra)
    ]
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=value, annotation=annotation
    )


def _query_route(name: str, declared: dict) -> None:
    """GET /queries/NAME with the query's own parameters in the contract."""

    def endpoint(request: Request, format: Format = "json", **values) -> Response:  # noqa: A002
        unknown = sorted(set(request.query_params) - set(values) - {"format"})
        if unknown:  # a misspelt parameter fails by name, as `fashion sql` does
            valid = ", ".join(declared) or "none"
            raise BadInput(
                f"query {name}: unknown parameter(s) {', '.join(unknown)} (valid: {valid})"
            )
        return _run_query(request, name, {k: v for k, v in values.items() if v is not None}, format)

    fixed = [
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        inspect.Parameter(
            "format", inspect.Parameter.KEYWORD_ONLY, default="json", annotation=Format
        ),
    ]
    endpoint.__signature__ = inspect.Signature(
        fixed + [_parameter(p, d, h) for p, (d, h) in declared.items()]
    )
    router.add_api_route(
        f"/queries/{name}",
        endpoint,
        methods=["GET"],
        name=f"query_{name}",
        summary=f"Run the shipped query {name}",
        responses=CSV_OR_JSON,
        description=describe_report(report_path(name)) + " (`fashion sql " + name + "`; "
        "`format=csv` for CSV)",
    )


for _name, _declared in list_reports().items():
    _query_route(_name, _declared)


@router.get("/queries/{name}", include_in_schema=False)
def run_query(request: Request, name: str, format: Format = "json") -> Response:  # noqa: A002
    """Any other name: 404 naming the shipped ones (each has a route of its own above)."""
    params = {k: v for k, v in request.query_params.items() if k != "format"}
    return _run_query(request, name, params, format)


@router.get("/trends", responses=CSV_OR_JSON)
def trends(
    request: Request,
    task: TaskName = "pattern",
    retailer: Filter = None,
    brand: Filter = None,
    by: Literal["month", "week"] = "month",
    basis: Literal["first_seen", "observed_on"] = "first_seen",
    format: Format = "json",  # noqa: A002
) -> Response:
    """Share of each attribute of a task per month or week, with the biggest mover."""
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
def product(request: Request, retailer: Name, product_id: Name) -> JSONResponse:
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
    product_id: Annotated[str, Query(min_length=1, max_length=200)],
    retailer: Filter = None,
    k: K = SIMILAR_K,
    in_retailer: Filter = None,
    same: Same = None,
    space: Space = "embedding",
) -> JSONResponse:
    """The products most similar to a stored product (its first image)."""
    db = _source(request).db
    return _answer(
        request,
        lambda cur: queries.similar_to_product(
            cur, db, retailer, product_id, k, in_retailer, same or [], space
        ),
    )


@router.post("/similar")
async def similar_image(
    request: Request,
    image: Annotated[UploadFile, File(description="A product photo (JPEG, PNG, WebP; 20 MB).")],
    k: K = SIMILAR_K,
    in_retailer: Filter = None,
    same: Same = None,
    space: Space = "embedding",
) -> JSONResponse:
    """The products most similar to an uploaded photo, and the photo's predicted labels."""
    source = _source(request)
    with tempfile.TemporaryDirectory(prefix="fashion-serve-") as folder:
        path = await save_upload(image, FilePath(folder), 0)

        def build(cur):
            found, query = queries.similar_to_image(
                cur, source, str(path), k, in_retailer, same or [], space, FilePath(folder) / "s"
            )
            labels = {task: sorted(ids) for task, ids in query.labels.items()}
            return {**found, "query_labels": labels}

        return await run_in_threadpool(_answer, request, build)  # the model runs off the loop


URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^ ]*)?$"


def patch_contract(schema: dict) -> dict:
    """What FastAPI cannot derive from the signatures: a predict request sends at least one
    image or URL (both fields are optional on their own), at most 32, URLs http(s)."""
    body = schema.get("components", {}).get("schemas", {}).get("Body_predict_api_v1_predict_post")
    if body is not None:
        body["properties"] = {
            "images": {
                "type": "array",
                "maxItems": 32,
                "description": "Photos (20 MB each).",
                "items": {"type": "string", "format": "binary"},
            },
            "urls": {
                "type": "array",
                "maxItems": 32,
                "description": "http(s) image URLs.",
                "items": {"type": "string", "pattern": URL_PATTERN},
            },
        }
        body["anyOf"] = [{"required": ["images"]}, {"required": ["urls"]}]
        body["minProperties"] = 1
        schema["paths"]["/api/v1/predict"]["post"]["requestBody"]["required"] = True
    return schema


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
        refusal = url_refusal(url)
        if not refusal and not re.fullmatch(URL_PATTERN, url):
            refusal = "not an http(s) URL of a host name (the contract's pattern)"
        if refusal:
            raise BadInput(f"url {url[:80]!r}: {refusal}")
    with tempfile.TemporaryDirectory(prefix="fashion-serve-") as folder:
        paths = [str(await save_upload(u, FilePath(folder), i)) for i, u in enumerate(images or [])]

        def build(cur):
            from fashion_model.match.similar import resolve_model

            version = resolve_model(cur, None)
            found = queries.predictions(source, version, paths + list(urls or []))
            names = [u.filename or f"upload {i + 1}" for i, u in enumerate(images or [])]
            for entry, name in zip(found, names + list(urls or []), strict=True):
                entry["image"] = name
            return {"model_version": version, "results": found}

        return await run_in_threadpool(_answer, request, build)


@router.post("/colors")
async def colors(
    images: Annotated[list[UploadFile], File(description="Photos (20 MB each), 32 at most.")],
) -> JSONResponse:
    """The measured dominant colours of uploaded photos (as `fashion colors`): per photo, up
    to 5 colours of at least 5% of the product, largest first, each with hex, CIELAB, share,
    shade name and family; a photo without colours says why. Needs no warehouse."""
    from fashion_model.colors.measure import METHOD_VERSION, measure_file

    if len(images) > 32:
        raise BadInput("at most 32 images per request")
    with tempfile.TemporaryDirectory(prefix="fashion-serve-") as folder:
        paths = [await save_upload(u, FilePath(folder), i) for i, u in enumerate(images)]
        readings = await run_in_threadpool(lambda: [measure_file(p) for p in paths])
    names = [upload.filename or f"upload {i + 1}" for i, upload in enumerate(images)]
    results = [
        {"image": name, **reading.as_dict()} for name, reading in zip(names, readings, strict=True)
    ]
    return JSONResponse({"method_version": METHOD_VERSION, "results": results})


@router.get("/runs")
def runs(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 30) -> JSONResponse:
    """The last nightly runs, newest first, with their flags."""
    return _answer(request, lambda cur: {"runs": queries.records(queries.runs(cur, limit))})


@router.get("/images/{sha256}")
def image(request: Request, sha256: Sha256) -> FileResponse:
    """A stored image, by its content hash only."""
    return _image(request, sha256)


def _image(request: Request, sha256: str) -> FileResponse:
    source = _source(request)
    cur, _ = source.cursor()
    try:
        path = queries.image_file(cur, source.home.images, sha256)
    finally:
        cur.close()
    return FileResponse(
        path, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400, immutable"}
    )


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
