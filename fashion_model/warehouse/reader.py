"""Opening the warehouse for reading: the file, or the snapshot while a writer holds it, refused
in one line when it cannot answer (no warehouse, an older schema, no products yet)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import duckdb

from fashion_model.errors import BadInput, NotFound
from fashion_model.sqlfiles import named
from fashion_model.warehouse.db import WarehouseBusy, connect, migrations
from fashion_model.warehouse.lock import snapshot_age, snapshot_path

_sql = partial(named, "warehouse/statements.sql")


@dataclass
class Reader:
    con: duckdb.DuckDBPyConnection
    path: Path  # what is read: the warehouse, or its snapshot
    refresh: dict  # the analytics refresh row ({} before any scoring run)
    note: str  # why the snapshot is read, or ""

    def describe(self) -> str:
        """One line for the user: what is being read, from which model, how fresh."""
        if not self.refresh:
            return f"reading {self.path}{self.note}"
        model = self.refresh["model_version"] or "none: nothing scored yet"
        return (
            f"reading {self.path} (model {model}, refreshed "
            f"{self.refresh['refreshed_at']:%Y-%m-%d %H:%M} UTC{self.note})"
        )


def open_reader(db_path: Path, need_products: bool) -> Reader:
    """Open the warehouse read-only; while a writer holds it, the snapshot the last nightly run
    published. Close `reader.con` when done."""
    path, note = Path(db_path), ""
    try:
        con = connect(path, read_only=True)
    except WarehouseBusy as busy:
        snapshot = snapshot_path(path)
        if not snapshot.is_file():
            raise BadInput(
                f"{busy}; no snapshot {snapshot} to read meanwhile (each nightly run publishes one)"
            ) from None
        con = connect(snapshot, read_only=True)
        note = f"; {path.name} is being written, so this is the snapshot, {snapshot_age(snapshot)}"
        path = snapshot
    try:
        refresh = check_warehouse(con, str(path), need_products)
    except BaseException:
        con.close()
        raise
    return Reader(con, path, refresh, note)


def check_warehouse(con: duckdb.DuckDBPyConnection, where: str, need_products: bool) -> dict:
    """Refuse, in one line, a file that is no warehouse, one from an older schema (a read-only
    reader cannot upgrade it) or, for shipped queries, one with no products yet. Returns the
    analytics refresh row (when, from which model) for the caller to show, {} before any."""
    try:
        version = schema_version(con)
    except duckdb.CatalogException:
        raise BadInput(f"{where}: not a fashion warehouse (no schema_migrations table)") from None
    latest = migrations()[-1][0]
    if version is None or version < latest:
        raise BadInput(
            f"{where}: warehouse schema {version}, this version needs {latest}; "
            "run `fashion score` once to upgrade it in place"
        )
    if need_products and not con.execute(_sql("product_count")).fetchone()[0]:
        raise BadInput(
            f"{where}: the warehouse is empty; run `fashion nightly` or `fashion score` first"
        )
    refresh = con.execute(_sql("analytics_refresh")).df()
    return {} if refresh.empty else refresh.iloc[0].to_dict()


def schema_version(con) -> int | None:
    """The last migration applied to a warehouse (a foreign file: CatalogException)."""
    return con.execute(_sql("schema_version")).fetchone()[0]


def label_names(con) -> dict[int, str]:
    return dict(con.execute(_sql("label_names")).fetchall())


def known_tasks(con) -> list[str]:
    """The label tasks of the warehouse's label map, sorted."""
    return [row[0] for row in con.execute(_sql("known_tasks")).fetchall()]


def known_retailers(con) -> list[str]:
    """The retailers of the warehouse's products, sorted."""
    return [row[0] for row in con.execute(_sql("known_retailers")).fetchall()]


def category_names(con) -> list[str]:
    """The categories predicted for some product, sorted."""
    return [row[0] for row in con.execute(_sql("category_names")).fetchall()]


def check_task(con, task: str, option: str = "task") -> str:
    """The one check of a task name (CLI, API, web app): one line listing the known ones."""
    known = known_tasks(con)
    if task not in known:
        raise BadInput(f"{option} {task!r} is not one of {', '.join(known)}")
    return task


def check_retailer(con, retailer: str | None, option: str = "retailer") -> str | None:
    """The one check of a retailer name; None and '' mean all retailers."""
    if retailer in (None, ""):
        return None
    known = known_retailers(con)
    if retailer not in known:
        raise NotFound(f"{option} {retailer!r}: no such retailer (have: {', '.join(known)})")
    return retailer
