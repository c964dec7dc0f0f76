"""Tasks: load a catalog run into the warehouse, score images into it, update the index."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path

from fashion_model.config import ScaleOut
from fashion_model.match.index import refresh_index
from fashion_model.scaleout.shards import score_plan_images
from fashion_model.score.plan import ScorePlan
from fashion_model.tasks.common import progress_reporter, publish_summary, retry_unless_bad_input
from fashion_model.tasks.scaleout import shard_pool
from fashion_model.tasks.tracking import run_logger, task
from fashion_model.warehouse.catalog import load_catalog
from fashion_model.warehouse.db import connect


# Writes to DuckDB: never cached. Each is one transaction (a catalog load) or one per chunk
# (scoring skips what is committed), so a retry after a runtime failure redoes nothing twice.
@task(
    name="load-catalog",
    retries=1,
    retry_delay_seconds=10,
    retry_condition_fn=retry_unless_bad_input,
    cache=False,
)
def load_catalog_run(db: Path, manifest_dir: Path, as_of: date, retailer: str | None) -> dict:
    with connect(db) as con:
        result = asdict(load_catalog(con, manifest_dir, as_of, retailer))
    publish_summary("catalog-load", result, f"Catalog {manifest_dir.name} as of {as_of}")
    return result


@task(
    name="score-images",
    retries=1,
    retry_delay_seconds=10,
    retry_condition_fn=retry_unless_bad_input,
    cache=False,
)
def score_manifest_images(plan: ScorePlan, scale: ScaleOut | None = None) -> dict:
    """In the flow's process, or (scale.task_runner 'dask') in shards on Dask workers that
    write Parquet parts under HOME/scratch which this task, the one DuckDB writer, loads."""
    with progress_reporter("scoring images") as progress:
        summary = score_plan_images(plan, progress, shard_pool(scale))
    result = {**summary, "task_runner": (scale or ScaleOut()).describe()}
    publish_summary("score", result, f"Scoring with model {summary['model_version']}")
    return result


@task(name="update-similarity-index", cache=False)
def update_similarity_index(db: Path, rebuild: bool) -> dict:
    """Add what scoring embedded to the nearest-neighbour index (rebuilt on a new production
    model or `rebuild`); a failure is a warning (searches fall back to an exact scan)."""
    logger = run_logger()
    with progress_reporter("indexing", "vector") as progress:
        summary = refresh_index(db, rebuild, log=logger.info, progress=progress)
    if summary["action"] == "failed":
        logger.warning(
            "similarity index not updated (%s); searches scan exactly", summary["reason"]
        )
    else:
        publish_summary("similarity-index", summary, f"Similarity index: {summary['action']}")
    return summary
