"""Product matching: `fashion similar`, `fashion equivalents` and `fashion index`."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from fashion_model.config import SIMILAR_K, DownloadConfig
from fashion_model.errors import BadInput
from fashion_model.flows.cli.common import (
    DbOption,
    HomeOption,
    ModelOption,
    SameOption,
    check_choice,
    console,
    knob,
    open_warehouse,
    print_summary,
    progress_bar,
)
from fashion_model.home import Home


def similar_command(
    image: Annotated[
        str | None, typer.Option("--image", help="Query photo: an image file or http(s) URL.")
    ] = None,
    product_id: Annotated[
        str | None, typer.Option("--product-id", help="Query product: its stored image.")
    ] = None,
    retailer: Annotated[
        str | None,
        typer.Option("--retailer", help="The query product's retailer (when several use its id)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="How many products to return.")] = SIMILAR_K,
    in_retailer: Annotated[
        str | None, typer.Option("--in-retailer", help="Only products of this retailer.")
    ] = None,
    same: SameOption = None,
    model: ModelOption = "production",
    home: HomeOption = None,
    db: DbOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write a contact sheet PNG of query and matches.")
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    allow_private: bool = knob(DownloadConfig, "allow_private"),
    space: Annotated[
        str,
        typer.Option(
            "--space",
            help="embedding (cosine over the model's embeddings) or logits (Euclidean distance "
            "over the label logits, the reference project's matching; exact search).",
        ),
    ] = "embedding",
) -> None:
    """The products that look most like a photo or a stored product (cosine similarity of the
    model's embeddings, or distance over its logits), optionally within one retailer or
    sharing predicted attributes."""
    from fashion_model.match.contact_sheet import similar_sheet
    from fashion_model.match.similar import (
        check_k,
        image_query,
        product_query,
        resolve_model,
        search_similar,
    )

    if (image is None) == (product_id is None):
        raise BadInput("name the query with exactly one of --image or --product-id")
    if retailer is not None and product_id is None:
        raise BadInput("--retailer names the query product's retailer; use it with --product-id")
    check_choice("--format", output_format, ("table", "json"))
    check_choice("--space", space, ("embedding", "logits"))
    check_k(k)
    paths = Home.resolve(home, db=db)
    with (
        open_warehouse(home, db, need_products=True) as con,
        tempfile.TemporaryDirectory(prefix="fashion-similar-") as scratch,
    ):
        version = resolve_model(con, model)
        if product_id is not None:
            query = product_query(con, version, product_id, retailer)
        else:
            query = image_query(con, paths.models, image, version, allow_private, Path(scratch))
        result = search_similar(con, paths.db, query, version, k, in_retailer, same or [], space)
        if out is not None:
            similar_sheet(query, result, paths.images, out)
    frame = result.frame
    if output_format == "json":
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        print(
            json.dumps(
                {
                    "query": query.description,
                    "model_version": version,
                    "method": result.method,
                    "results": records,
                },
                indent=1,
            )
        )
    elif frame.empty:
        print("(no products match)")
    else:
        score = "distance" if space == "logits" else "similarity"
        shown = ["rank", score, "retailer", "product_id", "brand", "title", "price", "currency"]
        print(frame[shown].to_string(index=False))
    console.print(
        f"{query.description}: {len(frame)} product(s), model {version}, {result.note}, "
        f"{result.seconds * 1000:.0f} ms",
        highlight=False,
        soft_wrap=True,
    )
    if out is not None:
        console.print(f"contact sheet written to {out}", highlight=False)


def equivalents_command(
    from_retailer: Annotated[str, typer.Option("--from", help="Retailer whose products to match.")],
    to_retailer: Annotated[str, typer.Option("--to", help="Retailer to find equivalents in.")],
    same: SameOption = None,
    top: Annotated[int, typer.Option("--top", help="Equivalents kept per product.")] = 1,
    model: ModelOption = "production",
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """For every product of one retailer, its nearest products of another (by image), written
    to the table `equivalents` (replacing that pair's previous result) for SQL."""
    from fashion_model.match.equivalents import find_equivalents
    from fashion_model.match.similar import check_k, resolve_model
    from fashion_model.warehouse.db import connect
    from fashion_model.warehouse.reader import check_warehouse

    check_k(top, "--top")
    paths = Home.resolve(home, db=db)
    if not paths.db.is_file():
        raise BadInput(f"{paths.db}: database not found; run `fashion score` first")
    with connect(paths.db) as con, progress_bar() as bar:
        check_warehouse(con, str(paths.db), need_products=True)
        version = resolve_model(con, model)
        job = bar.add_task(f"{from_retailer} -> {to_retailer}", total=None)
        result = find_equivalents(
            con,
            paths.db,
            from_retailer,
            to_retailer,
            version,
            same or [],
            top,
            progress=lambda done, total: bar.update(job, completed=done, total=total),
        )
    print_summary("equivalents", result.as_dict())
    console.print(
        f"query them: fashion sql equivalent_price_gaps --param from_retailer={from_retailer} "
        f"--param to_retailer={to_retailer}",
        highlight=False,
        soft_wrap=True,
    )


def index_command(
    home: HomeOption = None,
    db: DbOption = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build afresh instead of adding what is new.")
    ] = False,
    status_only: Annotated[
        bool, typer.Option("--status", help="Only show the index's state; change nothing.")
    ] = False,
) -> None:
    """Bring the similarity index beside the warehouse up to date (scoring runs do this
    themselves); show its state."""
    from fashion_model.match.index import index_status, update_index

    paths = Home.resolve(home, db=db)
    with open_warehouse(home, db, need_products=True) as con:
        if not status_only:
            with progress_bar() as bar:
                job = bar.add_task("indexing", total=None)
                result = update_index(
                    con,
                    paths.db,
                    rebuild=rebuild,
                    progress=lambda done, total: bar.update(job, completed=done, total=total),
                )
            print_summary("index", result.as_dict())
        print_summary("index status", index_status(con, paths.db))
