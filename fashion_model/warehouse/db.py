"""DuckDB warehouse: connection, numbered migrations from sql/migrations, labels and models sync."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import partial
from importlib.abc import Traversable
from pathlib import Path

import duckdb

from fashion_model.colors.palette import SHADES
from fashion_model.errors import BadInput, PackagingError, WarehouseError
from fashion_model.labels import LabelMap
from fashion_model.model.registry import ModelCard
from fashion_model.sqlfiles import (
    named,
    run_script,
    run_statement,
    shipped_folder,
    statements,
    transaction,
)

_sql = partial(named, "warehouse/statements.sql")

REFRESH_ANALYTICS = "load/refresh_analytics.sql"
REFRESH_IMAGE_PRODUCTS = "load/refresh_image_products.sql"
# Scripts run right after a migration, in its transaction: they fill what it created.
# The analytics rebuild reads every table up to migration 011, so it runs after that one (an
# older warehouse is rebuilt once when it reaches 011).
AFTER_MIGRATION = {9: REFRESH_IMAGE_PRODUCTS, 11: REFRESH_ANALYTICS}
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, Traversable]]:
    """The shipped migrations in order; none found, or a misnamed one, is a packaging error."""
    found = []
    for path in shipped_folder("migrations"):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise PackagingError(
                f"sql/migrations/{path.name}: names look like 001_what_it_does.sql"
            )
        found.append((int(match.group(1)), path))
    return found


class WarehouseBusy(BadInput):
    """Another process holds the database file open for writing (DuckDB's own file lock)."""


def connect(db_path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; a writer applies pending migrations first (each in one transaction)."""
    db_path = Path(db_path)
    if read_only and not db_path.is_file():
        raise BadInput(f"{db_path}: database not found; run `fashion score` first")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(db_path), read_only=read_only)
    except duckdb.IOException as error:
        message = str(error).splitlines()[0]
        holder = re.search(r"PID (\d+)", message)
        if holder:
            raise WarehouseBusy(
                f"{db_path}: another process (PID {holder.group(1)}) is writing this database; "
                "run again when it has finished"
            ) from None
        raise WarehouseError(f"{db_path}: cannot open the database ({message})") from None
    con.execute("SET enable_progress_bar = false")  # stdout carries query results
    if not read_only:
        migrate(con)
    return con


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    con.execute(_sql("create_schema_migrations"))
    done = {row[0] for row in con.execute(_sql("applied_migrations")).fetchall()}
    applied = []
    for version, path in migrations():
        if version in done:
            continue
        with transaction(con):
            con.execute(path.read_text(encoding="utf-8"))
            if version in AFTER_MIGRATION:
                run_script(con, AFTER_MIGRATION[version], {})
            con.execute(
                _sql("record_migration"),
                {"version": version, "name": path.name, "applied_at": datetime.now(UTC)},
            )
        applied.append(version)
    return applied


def sync_labels(con: duckdb.DuckDBPyConnection, label_map: LabelMap) -> None:
    """Fill `labels` on first use; afterwards a different label map is refused."""
    rows = con.execute(_sql("label_rows")).fetchall()
    wanted = [(lb.label_id, lb.task, lb.name) for lb in label_map.labels]
    if not rows:
        # One statement, so all or nothing: a run killed here must not leave a partial label
        # map that every later run would refuse.
        con.execute(
            _sql("insert_labels"),
            {
                "ids": [r[0] for r in wanted],
                "tasks": [r[1] for r in wanted],
                "names": [r[2] for r in wanted],
            },
        )
    else:
        check_labels(con, label_map)


def check_labels(con: duckdb.DuckDBPyConnection, label_map: LabelMap) -> None:
    """Refuse a label map other than the database's (an empty database accepts any)."""
    rows = con.execute(_sql("label_rows")).fetchall()
    wanted = [(lb.label_id, lb.task, lb.name) for lb in label_map.labels]
    if rows and rows != wanted:
        raise BadInput(
            "the model's label map differs from this database's labels table "
            f"({len(wanted)} vs {len(rows)} labels); one label map per database"
        )


def sync_model(con: duckdb.DuckDBPyConnection, card: ModelCard, is_production: bool) -> None:
    """Record the model version (and which one is production) in the `models` table."""
    params = {
        "model_version": card.model_version,
        "created_at": datetime.fromisoformat(card.created_at),
        "arch": card.arch,
        "image_size": card.image_size,
        "val_micro_f1": card.metrics.get("val_micro_f1"),
        "thresholds": [float(t) for t in card.label_thresholds()],
        "is_production": is_production,
        "label_map_fingerprint": card.label_map_fingerprint,
        "metrics": json.dumps(card.metrics),
    }
    with transaction(con):
        run_script(con, "load/upsert_model.sql", params)


def refresh_analytics(con: duckdb.DuckDBPyConnection) -> dict:
    """Rebuild the analytics tables for the production model (and the palette's shades), in
    one transaction; returns the `analytics_refresh` row."""
    shades = {
        "names": [n for n, _, _ in SHADES],
        "hexes": [h for _, h, _ in SHADES],
        "families": [f for _, _, f in SHADES],
    }
    with transaction(con):
        for sql in statements(_sql("sync_shades")):  # the palette the shade queries show
            run_statement(con, sql, shades, where="sync_shades")
        run_script(con, REFRESH_ANALYTICS, {})
        run_script(con, REFRESH_IMAGE_PRODUCTS, {})
    frame = con.execute(_sql("analytics_refresh")).df()
    return frame.iloc[0].to_dict()


def check_writable(db_path: Path, label_map: LabelMap) -> None:
    """Fail before any work when another process holds the warehouse for writing (DuckDB
    admits one writer) or the model's label map is not the warehouse's; opening also applies
    pending migrations."""
    with connect(db_path) as con:
        check_labels(con, label_map)
