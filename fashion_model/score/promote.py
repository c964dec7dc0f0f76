"""The one promotion path: make a version production, after checking the warehouse can take it."""

from __future__ import annotations

from pathlib import Path

from fashion_model.labels import load_label_map
from fashion_model.model.registry import (
    load_card,
    production_version,
    resolve_version,
    set_production,
)
from fashion_model.sqlfiles import read_sql, run_statement, statements
from fashion_model.warehouse.db import check_labels, connect


def promote(models_root: Path, version: str, db_path: Path) -> dict:
    """Make `version` the production model, after checking that the warehouse (when there is
    one) uses its label map; returns how many warehouse images it has not scored yet, which the
    next scoring run will score. The warehouse itself changes at that run, not here."""
    version = resolve_version(models_root, version)
    previous = production_version(models_root)
    unscored = None
    if Path(db_path).is_file():
        label_map = load_label_map(Path(models_root) / version / "label_map.csv")
        with connect(db_path, read_only=True) as con:
            check_labels(con, label_map)
            (sql,) = statements(read_sql("score/unscored_images.sql"))
            (unscored,) = run_statement(con, sql, {"model_version": version}).fetchone()
    set_production(models_root, version)
    card = load_card(models_root, version)
    return {
        "production": version,
        "previous": previous,
        "val_micro_f1": card.metrics.get("val_micro_f1"),
        "images_to_score": unscored,
    }
