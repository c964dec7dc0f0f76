"""Tasks: a contact sheet of the products most similar to one, and competitor equivalents."""

from __future__ import annotations

from pathlib import Path

from fashion_model.config import SIMILAR_K
from fashion_model.errors import BadInput
from fashion_model.match.contact_sheet import similar_sheet
from fashion_model.match.equivalents import find_equivalents
from fashion_model.match.similar import (
    product_query,
    resolve_model,
    search_similar,
    showcase_product,
)
from fashion_model.tasks.common import progress_reporter, publish_summary
from fashion_model.tasks.tracking import markdown_artifact, task
from fashion_model.warehouse.db import connect


@task(name="similar-products-sheet", cache=False)
def similar_products_sheet(
    db: Path,
    images_root: Path,
    reports_dir: Path,
    retailer: str,
    label_id: int | None,
    k: int = SIMILAR_K,
    same: tuple[str, ...] = ("category",),
) -> dict:
    """The newest product of `retailer` predicted with `label_id` (any product when None)
    and its k most similar products (sharing the `same` tasks), as a contact sheet PNG."""
    with connect(db, read_only=True) as con:
        version = resolve_model(con, None)
        picked = showcase_product(con, retailer, label_id)
        if picked is None:
            raise BadInput(f"retailer {retailer!r} has no scored product to show")
        query = product_query(con, version, picked, retailer)
        same = [task for task in same if query.labels.get(task)]  # a weak model may have none
        result = search_similar(con, db, query, version, k, same=same)
        out = reports_dir / f"similar_{retailer}_{picked}.png".lower().replace(" ", "_")
        similar_sheet(query, result, images_root, out)
    shown = result.frame[["rank", "similarity", "retailer", "product_id", "brand", "title"]]
    markdown_artifact(
        key="similar-products",
        markdown=f"## Most similar to {query.description}\n\n{result.note}\n\n"
        f"{shown.to_markdown(index=False)}\n\nContact sheet: `{out}`\n",
        description=f"similar products to {query.description}",
    )
    return {
        "query": query.description,
        "matches": len(result.frame),
        "method": result.method,
        "sheet": str(out),
    }


@task(name="find-equivalents", cache=False)  # a write to DuckDB: never cached
def find_competitor_equivalents(
    db: Path, from_retailer: str, to_retailer: str, same: tuple[str, ...] = (), top: int = 1
) -> dict:
    with connect(db) as con, progress_reporter("matching products", "product") as progress:
        version = resolve_model(con, None)
        result = find_equivalents(
            con,
            db,
            from_retailer=from_retailer,
            to_retailer=to_retailer,
            version=version,
            same=list(same),
            top=top,
            progress=progress,
        )
    summary = result.as_dict()
    publish_summary("equivalents", summary, f"Equivalents {from_retailer} -> {to_retailer}")
    return summary
