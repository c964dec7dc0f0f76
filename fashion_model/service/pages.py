"""The web app: server-rendered pages (Jinja2 templates and one small script in the package,
nothing from a CDN) over the same answers as the API: overview, trends, competitors, visual
search, product, review, runs, and the login page a token-protected server asks a browser to
pass."""

from __future__ import annotations

import base64
import hmac
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from fashion_model.errors import BadInput
from fashion_model.service import queries
from fashion_model.service.charts import price_svg, trend_svg
from fashion_model.service.uploads import save_upload
from fashion_model.sqlfiles import declared_parameters, read_sql
from fashion_model.warehouse.reader import (
    category_names,
    check_retailer,
    check_task,
    known_retailers,
    known_tasks,
    label_names,
)

router = APIRouter(include_in_schema=False)
# the colour page's distance when none is chosen: the query's own declared default
NEAR_DELTA_E = float(
    declared_parameters(read_sql("reports/products_near_color.sql"))["max_delta_e"][0]
)
TOKEN_COOKIE = "fashion_token"  # set by /login, read by the app's token guard
templates = Environment(
    loader=PackageLoader("fashion_model.service", "templates"),
    autoescape=select_autoescape(["html"]),
)
NAV = [
    ("/", "Overview"),
    ("/trends", "Trends"),
    ("/colors", "Colours"),
    ("/competitors", "Competitors"),
    ("/search", "Visual search"),
    ("/review", "Review"),
    ("/runs", "Runs"),
]


def render(request: Request, name: str, snapshot=None, **context) -> HTMLResponse:
    source = request.app.state.source
    warehouse = source.describe(snapshot) if snapshot is not None else None
    page = templates.get_template(name).render(
        nav=NAV, path=request.url.path, warehouse=warehouse, **context
    )
    return HTMLResponse(page)


def error_page(request: Request, status: int, message: str) -> str:
    return templates.get_template("error.html").render(
        nav=NAV, path=request.url.path, warehouse=None, status=status, message=message
    )


class _Cursor:
    """`with _Cursor(request) as (cur, snapshot):` one request's cursor, closed after."""

    def __init__(self, request: Request):
        self.source = request.app.state.source

    def __enter__(self):
        self.cur, snapshot = self.source.cursor()
        return self.cur, snapshot

    def __exit__(self, *exc) -> None:
        self.cur.close()


@router.get("/", response_class=HTMLResponse)
def overview(request: Request):
    with _Cursor(request) as (cur, snapshot):
        frame = queries.overview(cur)
        runs = queries.runs(cur, 1)
    return render(
        request,
        "overview.html",
        snapshot,
        retailers=queries.records(frame),
        last_run=queries.records(runs)[0] if len(runs) else None,
    )


@router.get("/trends", response_class=HTMLResponse)
def trends(
    request: Request,
    task: str = "pattern",
    retailer: str = "",
    brand: str = "",
    by: str = "month",
    basis: str = "first_seen",
):
    with _Cursor(request) as (cur, snapshot):
        result = queries.trends(cur, task, retailer or None, brand or None, by, basis)
        choices = {"tasks": known_tasks(cur), "retailers": known_retailers(cur)}
    table = result["table"]
    query = request.url.query
    return render(
        request,
        "trends.html",
        snapshot,
        task=task,
        retailer=retailer,
        brand=brand,
        by=by,
        basis=basis,
        chart=trend_svg(table, result["mover"]),
        mover=result["mover"],
        table=table,
        csv_url=f"/api/v1/trends?{query}&format=csv" if query else "/api/v1/trends?format=csv",
        **choices,
    )


@router.get("/colors", response_class=HTMLResponse)
def colors(
    request: Request,
    hex: str = "",
    retailer: str = "",
    label: str = "",  # noqa: A002
    max_delta_e: float | None = None,
    level: str = "name",
    by: str = "month",
):
    with _Cursor(request) as (cur, snapshot):
        near = None
        if hex:
            near = queries.near_color(cur, hex, retailer or None, label or None, max_delta_e)
        result = queries.shades(cur, retailer or None, level, by)
        choices = {"retailers": known_retailers(cur), "categories": category_names(cur)}
    chart = trend_svg(result["table"], result["mover"], colours=result["swatches"])
    trend = queries.records(result["trend"])
    return render(
        request,
        "colors.html",
        snapshot,
        hex=hex,
        retailer=retailer,
        label=label,
        max_delta_e=max_delta_e or NEAR_DELTA_E,
        level=level,
        by=by,
        near=near,
        chart=chart,
        mover=result["mover"],
        trend=trend,
        **choices,
    )


@router.get("/competitors", response_class=HTMLResponse)
def competitors(request: Request, task: str = "color", a: str = "", b: str = ""):
    with _Cursor(request) as (cur, snapshot):
        known = known_retailers(cur)
        a = a or (known[0] if known else "")
        b = b or (known[1] if len(known) > 1 else "")
        result = queries.competitors(cur, task, a, b) if a and b and a != b else None
        tasks = known_tasks(cur)
    return render(
        request,
        "competitors.html",
        snapshot,
        task=task,
        a=a,
        b=b,
        tasks=tasks,
        retailers=known,
        result=result,
    )


def _search_form(cur) -> dict:
    return {"retailers": known_retailers(cur)}


@router.get("/search", response_class=HTMLResponse)
def search(request: Request):
    with _Cursor(request) as (cur, snapshot):
        form = _search_form(cur)
    return render(request, "search.html", snapshot, found=None, **form)


@router.post("/search", response_class=HTMLResponse)
async def search_upload(
    request: Request,
    photo: Annotated[UploadFile, File()],
    retailer: Annotated[str, Form()] = "",
    same_category: Annotated[str, Form()] = "",
    same_color: Annotated[str, Form()] = "",
    k: Annotated[int, Form()] = 12,
):
    source = request.app.state.source
    same = [t for t, on in (("category", same_category), ("color", same_color)) if on]

    def search_with(path: Path, folder: Path) -> HTMLResponse:
        with _Cursor(request) as (cur, snapshot):
            found, query = queries.similar_to_image(
                cur, source, str(path), k, retailer or None, same, "embedding", folder / "s"
            )
            names = label_names(cur)
            form = _search_form(cur)
        stored = Path(query.image_path) if query.image_path else None
        preview = base64.b64encode(stored.read_bytes()).decode() if stored else None
        labels = query.labels.items()
        predicted = {t: sorted(names.get(i, str(i)) for i in ids) for t, ids in labels}
        return render(
            request,
            "search.html",
            snapshot,
            found=found,
            predicted=predicted,
            preview=preview,
            retailer=retailer,
            same=same,
            **form,
        )

    with tempfile.TemporaryDirectory(prefix="fashion-serve-") as folder:
        path = await save_upload(photo, Path(folder), 0)
        return await run_in_threadpool(search_with, path, Path(folder))


@router.get("/products/{retailer}/{product_id}", response_class=HTMLResponse)
def product(request: Request, retailer: str, product_id: str):
    from fashion_model.match.index import served_version

    source = request.app.state.source
    with _Cursor(request) as (cur, snapshot):
        version = served_version(cur)
        found = queries.product(cur, version, retailer, product_id)
        similar = None
        if version and any(i["image_sha256"] for i in found["images"]):
            try:
                similar = queries.similar_to_product(cur, source.db, retailer, product_id, 8)
            except BadInput:
                similar = None  # not embedded yet: the page shows the rest
    by_task: dict[str, list] = {}
    for row in found["attributes"]:
        by_task.setdefault(row["task"], []).append(row)
    return render(
        request,
        "product.html",
        snapshot,
        p=found["product"],
        images=found["images"],
        attributes=by_task,
        equivalents=found["equivalents"],
        price_chart=price_svg(found["prices"]),
        prices=queries.records(found["prices"]),
        similar=similar,
    )


@router.get("/review", response_class=HTMLResponse)
def review(request: Request, task: str = "", retailer: str = "", margin: float = 0.05):
    with _Cursor(request) as (cur, snapshot):
        if task:
            check_task(cur, task)
        check_retailer(cur, retailer or None)
        rows = queries.report(
            cur,
            "low_confidence_products",
            {
                "task": task or None,
                "retailer": retailer or None,
                "margin": str(margin),
                "limit": "200",
            },
        )
        choices = {"tasks": known_tasks(cur), "retailers": known_retailers(cur)}
    return render(
        request,
        "review.html",
        snapshot,
        rows=queries.records(rows),
        task=task,
        retailer=retailer,
        margin=margin,
        **choices,
    )


@router.get("/runs", response_class=HTMLResponse)
def runs(request: Request):
    with _Cursor(request) as (cur, snapshot):
        frame = queries.runs(cur, 30)
    return render(request, "runs.html", snapshot, runs=queries.records(frame))


@router.get("/login", response_class=HTMLResponse)
def login(request: Request, next: str = "/"):  # noqa: A002
    return render(
        request, "login.html", None, next=next if next.startswith("/") else "/", wrong=False
    )


@router.post("/login", response_class=HTMLResponse)
def login_post(request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/"):  # noqa: A002
    expected = request.app.state.token or ""
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        page = render(request, "login.html", None, next=target, wrong=True)
        page.status_code = 401
        return page
    response = RedirectResponse(target, 303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
    return response
