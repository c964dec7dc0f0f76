"""Load a catalog manifest into the warehouse: products, product_images, observations, images."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from fashion_model.errors import BadInput
from fashion_model.ingest.feed_items import METADATA_COLUMNS, missing_retailer
from fashion_model.ingest.manifest import CATALOG_TYPES, CORE_COLUMNS, manifest_schema
from fashion_model.sqlfiles import (
    named,
    quote_identifier,
    quote_literal,
    read_sql,
    run_script,
    transaction,
)

# Catalog columns with a place of their own in `products`; the others go to source_columns.
KNOWN_COLUMNS = tuple(c for c in METADATA_COLUMNS if c != "source_columns")
STATEMENTS = "warehouse/statements.sql"


@dataclass
class CatalogLoad:
    products: int
    images_ok: int
    images_failed: int
    observed_on: str


def _sql_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision},{arrow_type.scale})"
    return "DATE" if pa.types.is_date(arrow_type) else "VARCHAR"


def _staging_query(parts: str, schema: pa.Schema, has_retailer: bool) -> str:
    # Manifests of feeds carry the other columns as one JSON text column, `source_columns`;
    # older manifests carry each as a column of its own.
    columns = schema.names
    extra = [
        c
        for c in columns
        if c not in CORE_COLUMNS and c not in KNOWN_COLUMNS and c != "source_columns"
    ]

    def column(name: str) -> str:
        """A manifest's typed column as it is (manifests since 2026-12 are typed when the feed
        is read); an older manifest's text column parsed (a value that does not parse is
        NULL, its text kept in source_columns by the feed reader)."""
        cast = _sql_type(CATALOG_TYPES.get(name, pa.string()))
        if name not in columns:
            return f"CAST(NULL AS {cast})"
        if pa.types.is_string(schema.field(name).type) and cast != "VARCHAR":
            return f"TRY_CAST(nullif(trim({quote_identifier(name)}), '') AS {cast})"
        return f"CAST({quote_identifier(name)} AS {cast})"

    retailer = "coalesce(nullif(trim(retailer), ''), $retailer)" if has_retailer else "$retailer"
    pairs = ", ".join(f"{quote_literal(c)}, {quote_identifier(c)}" for c in extra)
    source_columns = f"json_object({pairs})" if extra else "CAST(NULL AS JSON)"
    if "source_columns" in columns:
        source_columns = "CAST(nullif(source_columns, '{}') AS JSON)"
        if extra:
            source_columns = f"json_merge_patch(json_object({pairs}), {source_columns})"
    return read_sql("load/stage_catalog.sql").format(
        retailer=retailer,
        source_columns=source_columns,
        parts=quote_literal(parts),
        **{name: column(name) for name in KNOWN_COLUMNS if name != "retailer"},
    )


def check_catalog_manifest(manifest_dir: Path, retailer: str | None = None) -> bool:
    """A catalog manifest names its retailer in a column or through `retailer`; returns whether
    it has the column."""
    has_retailer = "retailer" in manifest_schema(manifest_dir).names
    if retailer:
        return has_retailer
    parts = str(Path(manifest_dir) / "part-*.parquet")
    query = (
        read_sql("load/catalog_without_retailer.sql")
        if has_retailer
        else named(STATEMENTS, "manifest_rows")
    )
    with duckdb.connect() as con:
        (without,) = con.execute(query, {"parts": parts}).fetchone()
    if problem := missing_retailer(without, retailer):
        raise BadInput(f"{manifest_dir}: {problem}")
    return has_retailer


def load_catalog(
    con: duckdb.DuckDBPyConnection,
    manifest_dir: Path,
    as_of: date,
    retailer: str | None = None,
) -> CatalogLoad:
    """Upsert one catalog run (a manifest dataset) in one transaction."""
    schema = manifest_schema(manifest_dir)
    has_retailer = check_catalog_manifest(manifest_dir, retailer)
    parts = str(Path(manifest_dir) / "part-*.parquet")
    params = {"retailer": retailer, "as_of": as_of}
    with transaction(con):
        con.execute(_staging_query(parts, schema, has_retailer), {"retailer": retailer})
        run_script(con, "load/upsert_catalog.sql", params)
        # the image -> products map the similarity search joins by key follows product_images
        run_script(con, "load/refresh_image_products.sql", {})
        products, ok, failed = con.execute(named(STATEMENTS, "staged_counts")).fetchone()
        con.execute(named(STATEMENTS, "drop_staged"))
    return CatalogLoad(products, ok, failed, as_of.isoformat())
