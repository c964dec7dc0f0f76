"""The answers the API and the pages share, each over one request's cursor: trends, competitor
mix, products, similar products, predictions, shipped queries, models, runs, review.

Every value from a request is a bound parameter or checked against a closed list (task names,
shipped query names, retailers); nothing a user sends is formatted into SQL or into a path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from fashion_model.analytics.reports import attribute_movers, list_reports, run_report, share_table
from fashion_model.config import SIMILAR_K
from fashion_model.errors import BadInput
from fashion_model.match.similar import (
    SPACES,
    check_k,
    image_query,
    product_query,
    resolve_model,
    search_similar,
)
from fashion_model.model.registry import list_versions, load_card, production_version
from fashion_model.sqlfiles import read_sql, run_statement, statements
from fashion_model.warehouse.reader import check_retailer, check_task

SHA256 = re.compile(r"^[0-9a-f]{64}$")
RESULT_COLUMNS = [
    "rank",
    "similarity",
    "distance",
    "retailer",
    "product_id",
    "brand",
    "title",
    "price",
    "currency",
    "image_sha256",
]


def records(frame: pd.DataFrame) -> list[dict]:
    """A frame as JSON-ready rows (NaN -> null, dates as ISO text)."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def serve_sql(cur, name: str, params: dict) -> pd.DataFrame:
    (sql,) = statements(read_sql(f"serve/{name}.sql"))
    return run_statement(cur, sql, params, where=f"serve/{name}.sql").df()


def report(cur, name: str, params: dict) -> pd.DataFrame:
    """A shipped query by name (never a file), its parameters checked as `fashion sql` does;
    errors name the query, not the file it lives in."""
    if name not in list_reports():
        raise LookupError(f"unknown query {name!r} (shipped: {', '.join(list_reports())})")
    try:
        return run_report(cur, name, {k: v for k, v in params.items() if v not in (None, "")})
    except BadInput as error:
        text = re.sub(r"^\S*/reports/" + re.escape(name) + r"\.sql: ", "", str(error))
        raise BadInput(f"query {name}: {text.replace(' (--param NAME=VALUE)', '')}") from None


def query_list() -> list[dict]:
    from fashion_model.analytics.reports import describe_report, report_path

    return [
        {
            "name": name,
            "description": describe_report(report_path(name)),
            "parameters": {p: {"default": d, "help": h} for p, (d, h) in params.items()},
        }
        for name, params in list_reports().items()
    ]


def trends(cur, task: str, retailer=None, brand=None, by="month", basis="first_seen") -> dict:
    """Share of each attribute per period, pivoted, with the biggest mover."""
    check_task(cur, task)
    check_retailer(cur, retailer)
    params = {"task": task, "by": by, "basis": basis, "retailer": retailer, "brand": brand}
    shares = report(cur, "attribute_share", params)
    table = share_table(shares, by) if len(shares) else pd.DataFrame()
    movers = attribute_movers(shares) if len(shares) else []
    mover = movers[0] if movers else None
    return {"shares": shares, "table": table, "mover": mover}


def shades(cur, retailer=None, level="name", by="month") -> dict:
    """Share of each measured shade (or family) among new products per period, pivoted like
    `trends`, with its biggest mover, the swatch colour of each shade, and the z-scored shade
    trend of the last three periods against the three before."""
    check_retailer(cur, retailer)
    params = {"level": level, "by": by, "retailer": retailer}
    shares = report(cur, "shade_share", params).rename(columns={"shade": "attribute"})
    table = share_table(shares, by) if len(shares) else pd.DataFrame()
    movers = attribute_movers(shares) if len(shares) else []
    swatches = dict(zip(shares.get("attribute", []), shares.get("hex", []), strict=True))
    ranked = report(cur, "shade_trend", params)
    return {
        "shares": shares,
        "table": table,
        "mover": movers[0] if movers else None,
        "swatches": {k: v for k, v in swatches.items() if v},
        "trend": ranked,
    }


def near_color(cur, hex_color: str, retailer=None, label=None, max_delta_e=None) -> list[dict]:
    """Products whose measured colours come near a colour (products_near_color, its default
    distance unless given), each with its swatches."""
    check_retailer(cur, retailer)
    params = {
        "hex": hex_color,
        "retailer": retailer,
        "label": label,
        "max_delta_e": None if max_delta_e is None else str(max_delta_e),
    }
    return with_colors(cur, records(report(cur, "products_near_color", params)))


def trend_json(result: dict) -> dict:
    table, mover = result["table"], result["mover"]
    shares = table.drop(columns=["products"], errors="ignore")
    return {
        "periods": [str(p)[:10] for p in table.index],
        "products": [int(v) for v in table.get("products", [])],
        "series": {str(c): [round(float(v), 2) for v in shares[c].fillna(0)] for c in shares},
        "biggest_mover": None
        if mover is None
        else {
            "attribute": mover.attribute,
            "first_pct": round(mover.first, 2),
            "last_pct": round(mover.last, 2),
            "change_points": round(mover.change, 2),
        },
        "rows": records(result["shares"]),
    }


def competitors(cur, task: str, retailer_a: str, retailer_b: str) -> dict:
    check_task(cur, task)
    check_retailer(cur, retailer_a, "retailer_a")
    check_retailer(cur, retailer_b, "retailer_b")
    if retailer_a == retailer_b:
        raise BadInput("retailer_a and retailer_b name the same retailer")
    mix = report(
        cur,
        "competitor_comparison",
        {"task": task, "retailer_a": retailer_a, "retailer_b": retailer_b},
    )
    prices = {}
    for retailer in (retailer_a, retailer_b):
        frame = report(cur, "price_by_attribute", {"task": task, "retailer": retailer})
        if len(frame):
            frame = frame[frame["period"] == frame["period"].max()]
        prices[retailer] = frame
    return {"mix": mix, "prices": prices}


def product(cur, version: str | None, retailer: str, product_id: str) -> dict:
    found = serve_sql(cur, "product", {"retailer": retailer, "product_id": product_id})
    if found.empty:
        raise LookupError(f"no product {product_id!r} of retailer {retailer!r}")
    params = {"retailer": retailer, "product_id": product_id}
    with_model = {**params, "model_version": version}
    return {
        "product": with_colors(cur, records(found))[0],
        "images": records(serve_sql(cur, "product_images", params)),
        "prices": serve_sql(cur, "product_prices", params),
        "attributes": records(serve_sql(cur, "product_attributes", with_model)) if version else [],
        "equivalents": records(serve_sql(cur, "product_equivalents", with_model))
        if version
        else [],
    }


def with_colors(cur, rows: list[dict]) -> list[dict]:
    """`rows` (each with retailer and product_id), each given its measured `colors` (hex,
    share, name, family; largest first; none before it was measured)."""
    params = {
        "retailers": [r["retailer"] for r in rows],
        "product_ids": [r["product_id"] for r in rows],
    }
    found: dict[tuple, list] = {}
    for c in records(serve_sql(cur, "product_colors", params)) if rows else []:
        colour = {k: c[k] for k in ("hex", "share", "name", "family")}
        found.setdefault((c["retailer"], c["product_id"]), []).append(colour)
    return [{**r, "colors": found.get((r["retailer"], r["product_id"]), [])} for r in rows]


def _checked_search(cur, k: int, in_retailer, same: list[str], space: str) -> None:
    check_k(k, "k")
    check_retailer(cur, in_retailer, "in_retailer")
    for task in same:
        check_task(cur, task)
    if space not in SPACES:
        raise BadInput(f"space {space!r} is not one of {', '.join(SPACES)}")


def similar_to_product(
    cur, db: Path, retailer, product_id, k=SIMILAR_K, in_retailer=None, same=(), space="embedding"
) -> dict:
    _checked_search(cur, k, in_retailer, list(same), space)
    version = resolve_model(cur, None)
    try:
        query = product_query(
            cur,
            version,
            product_id,
            retailer or None,
            with_labels=bool(same),
            with_logits=space == "logits",
        )
    except BadInput as error:
        if "no such product" in str(error):
            raise LookupError(str(error)) from None
        raise
    result = search_similar(cur, db, query, version, k, in_retailer or None, list(same), space)
    return _similar_json(cur, query.description, result)


def similar_to_image(
    cur,
    source,
    path: str,
    k=SIMILAR_K,
    in_retailer=None,
    same=(),
    space="embedding",
    scratch: Path | None = None,
) -> tuple[dict, object]:
    """Search with an uploaded photo (already saved to `path`): (results, the query: its
    predicted labels and its stored image, in `scratch`)."""
    _checked_search(cur, k, in_retailer, list(same), space)
    version = resolve_model(cur, None)
    query = image_query(
        cur, source.home.models, path, version, False, scratch, model=source.model(version)
    )
    result = search_similar(
        cur, source.db, query, version, k, in_retailer or None, list(same), space
    )
    return _similar_json(cur, "the uploaded photo", result), query


def _similar_json(cur, description: str, result) -> dict:
    frame = result.frame[[c for c in RESULT_COLUMNS if c in result.frame]]
    return {
        "query": description,
        "model_version": result.model_version,
        "method": result.method,
        "note": result.note,
        "milliseconds": round(result.seconds * 1000, 1),
        "results": with_colors(cur, records(frame)),
    }


def predictions(source, version: str, images: list[str]) -> list[dict]:
    """Labels by task, with score and threshold, for stored uploads or URLs (SSRF-guarded)."""
    from fashion_model.score.predict import predict_images

    net, card, label_map = source.model(version)
    _, found = predict_images(
        source.home.models, images, version, allow_private=False, model=(net, card, label_map)
    )
    thresholds = card.label_thresholds()
    out = []
    for prediction in found:
        entry: dict = {"image": prediction.image, "error": prediction.error, "labels": {}}
        if prediction.probabilities is not None:
            probs = prediction.probabilities
            for position in np.flatnonzero(probs >= thresholds):
                label = label_map.labels[position]
                entry["labels"].setdefault(label.task, []).append(
                    {
                        "label": label.name,
                        "label_id": label.label_id,
                        "score": round(float(probs[position]), 4),
                        "threshold": round(float(thresholds[position]), 4),
                    }
                )
            for found_labels in entry["labels"].values():
                found_labels.sort(key=lambda item: -item["score"])
        out.append(entry)
    return out


def models(home) -> list[dict]:
    root = Path(home.models)
    current = production_version(root)
    rows = []
    for version in list_versions(root):
        card = load_card(root, version)
        rows.append(
            {
                "model_version": version,
                "production": version == current,
                "arch": card.arch,
                "runtime": card.runtime,
                "image_size": card.image_size,
                "resize": card.resize,
                "embedding_dim": card.embedding_dim,
                "labels": len(card.label_ids),
                "val_micro_f1": card.metrics.get("val_micro_f1"),
                "created_at": card.created_at,
                "source": card.source.get("kind", "trained"),
            }
        )
    return rows


def runs(cur, limit: int = 30) -> pd.DataFrame:
    return serve_sql(cur, "runs", {"limit": limit})


def overview(cur) -> pd.DataFrame:
    return serve_sql(cur, "overview", {})


def image_file(cur, images_root: Path, sha256: str) -> Path:
    """The stored file of an image, found by its content hash in the warehouse only."""
    if not SHA256.match(sha256):
        raise BadInput("an image is named by its sha256: 64 lowercase hex digits")
    found = serve_sql(cur, "image_path", {"image_sha256": sha256})
    if found.empty:
        raise LookupError(f"no image {sha256}")
    root = Path(images_root).resolve()
    path = (root / found["path"].iloc[0]).resolve()
    if root not in path.parents or not path.is_file():
        raise LookupError(f"image {sha256} is not in the store")
    return path
