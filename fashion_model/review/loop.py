"""`fashion review export` and `fashion review import` against the warehouse and the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import duckdb

from fashion_model.errors import BadInput
from fashion_model.files import write_json, write_text
from fashion_model.home import Home
from fashion_model.labels import default_label_map
from fashion_model.model.registry import production_version
from fashion_model.review.labelstudio import (
    MAX_MARGIN,
    ImportReport,
    build_task,
    image_location,
    labelling_config,
    read_export,
    resolve_answers,
    reviewed_rows,
    training_file,
)
from fashion_model.sqlfiles import named, read_sql, run_statement, statements, transaction
from fashion_model.warehouse.db import connect
from fashion_model.warehouse.lock import warehouse_lock

_sql = partial(named, "review/statements.sql")


@dataclass
class ExportResult:
    tasks: int
    model_version: str
    out: str
    config: str | None
    least_certain: float | None

    def as_dict(self) -> dict:
        return dict(vars(self))


def check_export_options(tasks: list[str], margin: float, limit: int, image_source: str):
    label_map = default_label_map()
    for task in tasks:
        if task not in label_map.tasks:
            raise BadInput(f"--task {task}: is not one of {', '.join(label_map.tasks)}")
    if not 0 < margin <= MAX_MARGIN:
        raise BadInput(f"--margin {margin}: must be above 0 and at most {MAX_MARGIN}")
    if limit < 1:
        raise BadInput(f"--limit {limit}: must be at least 1")
    if image_source not in ("url", "local"):
        raise BadInput(f"--image-source {image_source!r} is not one of url, local")


@dataclass
class Batch:
    """The images a review sends, chosen once for a file export and a push alike."""

    model_version: str
    tasks: list[str]  # the attribute tasks reviewed (all when none were named)
    rows: list[dict]  # review/candidates.sql rows, least certain first


def choose_batch(
    con,
    paths: Home,
    tasks: list[str],
    retailer: str | None,
    margin: float,
    limit: int,
    again: bool,
) -> Batch:
    """The production model's least certain images not sent before for it (unless `again`)."""
    version = production_version(paths.models)
    if version is None:
        raise BadInput(f"{paths.models}: no production model; train one first")
    (sql,) = statements(read_sql("review/candidates.sql"))
    params = {
        "model": version,
        "tasks": list(tasks),
        "margin": margin,
        "retailer": retailer,
        "limit": limit,
        "again": again,
    }
    rows = run_statement(con, sql, params, where="sql/review/candidates.sql").fetchall()
    names = [d[0] for d in con.description]
    rows = [dict(zip(names, row, strict=True)) for row in rows]
    if not rows:
        raise BadInput(
            f"no image of model {version} within {margin} of a threshold"
            + (f" for {retailer}" if retailer else "")
            + ("" if again else " that was not exported before (--again exports those)")
        )
    return Batch(version, tasks or list(default_label_map().tasks), rows)


def record_batch(con, batch: Batch) -> None:
    """Remember what was sent, so the next export or push sends other images."""
    now = datetime.now(UTC)
    with transaction(con):
        con.executemany(
            _sql("record_exports"),
            [
                (
                    r["image_sha256"],
                    batch.model_version,
                    r["retailer"],
                    r["product_id"],
                    r["certainty"],
                    now,
                )
                for r in batch.rows
            ],
        )


@contextmanager
def open_warehouse(paths: Home, holder: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, held for writing by `holder`; none yet is one line."""
    if not paths.db.is_file():
        raise BadInput(f"{paths.db}: database not found; run `fashion score` first")
    with warehouse_lock(paths.db, holder), connect(paths.db) as con:
        yield con


def export_review(
    paths: Home,
    tasks: list[str],
    out: Path,
    config_out: Path | None = None,
    retailer: str | None = None,
    margin: float = MAX_MARGIN,
    limit: int = 200,
    again: bool = False,
    image_source: str = "url",
    holder: str = "fashion review export",
) -> ExportResult:
    """The least certain images of the production model as Label Studio tasks; each image is
    exported once per model version (recorded in review_exports) unless `again`."""
    check_export_options(tasks, margin, limit, image_source)
    with open_warehouse(paths, holder) as con:
        batch = choose_batch(con, paths, tasks, retailer, margin, limit, again)
        payload = [
            build_task(row, batch.model_version, batch.tasks, image_location(row, image_source))
            for row in batch.rows
        ]
        write_json(out, payload)
        if config_out:
            write_text(config_out, labelling_config(default_label_map(), batch.tasks))
        record_batch(con, batch)
    return ExportResult(
        len(payload),
        batch.model_version,
        str(out),
        str(config_out) if config_out else None,
        round(float(batch.rows[0]["certainty"]), 4),
    )


def import_review(
    paths: Home,
    export: Path,
    out: Path,
    agreement: bool = False,
    holder: str = "fashion review import",
) -> tuple[ImportReport, Path]:
    """A Label Studio JSON export -> an iMaterialist training file at `out` and the reviewed
    labels in the warehouse (replacing earlier reviews of the same images)."""
    label_map = default_label_map()
    tasks = read_export(export, label_map)
    with open_warehouse(paths, holder) as con:
        stored = dict(
            con.execute(
                _sql("stored_images"),
                {"shas": [str((t.get("data") or {}).get("sha256")) for t in tasks]},
            ).fetchall()
        )
        answers, report = resolve_answers(
            tasks,
            label_map,
            lambda sha: sha in stored and (paths.images / stored[sha]).is_file(),
            agreement,
        )
        if not answers:
            raise BadInput(
                f"{export}: no answer to import ({report.skipped} task(s) without an annotation, "
                f"{report.dropped_for_disagreement} dropped for disagreement)"
            )
        write_json(out, training_file(answers))
        rows = reviewed_rows(answers, label_map, str(Path(export).name))
        with transaction(con):
            con.execute(_sql("forget_reviews"), {"shas": [a.sha256 for a in answers]})
            if rows:
                con.executemany(_sql("insert_reviews"), rows)
    return report, Path(out)
