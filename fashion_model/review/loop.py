"""`fashion review export` and `fashion review import` against the warehouse and the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from fashion_model.errors import BadInput
from fashion_model.files import write_json, write_text
from fashion_model.home import Home
from fashion_model.labels import default_label_map
from fashion_model.model.registry import production_version
from fashion_model.review.labelstudio import (
    MAX_MARGIN,
    ImportReport,
    build_task,
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
    label_map = default_label_map()
    chosen = tasks or list(label_map.tasks)
    version = production_version(paths.models)
    if version is None:
        raise BadInput(f"{paths.models}: no production model; train one first")
    if not paths.db.is_file():
        raise BadInput(f"{paths.db}: database not found; run `fashion score` first")
    (sql,) = statements(read_sql("review/candidates.sql"))
    params = {"model": version, "tasks": list(tasks), "margin": margin, "retailer": retailer,
              "limit": limit, "again": again}  # fmt: skip
    with warehouse_lock(paths.db, holder), connect(paths.db) as con:
        rows = run_statement(con, sql, params, where="sql/review/candidates.sql").fetchall()
        names = [d[0] for d in con.description]
        rows = [dict(zip(names, row, strict=True)) for row in rows]
        if not rows:
            raise BadInput(
                f"no image of model {version} within {margin} of a threshold"
                + (f" for {retailer}" if retailer else "")
                + ("" if again else " that was not exported before (--again exports those)")
            )
        payload = [build_task(row, version, chosen, image_source) for row in rows]
        write_json(out, payload)
        if config_out:
            write_text(config_out, labelling_config(label_map, chosen))
        now = datetime.now(UTC)
        with transaction(con):
            con.executemany(
                _sql("record_exports"),
                [(r["image_sha256"], version, r["retailer"], r["product_id"], r["certainty"], now)
                 for r in rows],
            )  # fmt: skip
    return ExportResult(len(payload), version, str(out), str(config_out) if config_out else None,
                        round(float(rows[0]["certainty"]), 4))  # fmt: skip


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
    if not paths.db.is_file():
        raise BadInput(f"{paths.db}: database not found; run `fashion score` first")
    with warehouse_lock(paths.db, holder), connect(paths.db) as con:
        stored = dict(con.execute(
            _sql("stored_images"),
            {"shas": [str((t.get("data") or {}).get("sha256")) for t in tasks]},
        ).fetchall())  # fmt: skip
        answers, report = resolve_answers(
            tasks, label_map,
            lambda sha: sha in stored and (paths.images / stored[sha]).is_file(), agreement,
        )  # fmt: skip
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
