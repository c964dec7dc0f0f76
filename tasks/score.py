"""Tasks: load a catalog run into the warehouse, and score images into it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path

from fashion_model.config import ScaleOut
from fashion_model.match.index import update_index
from fashion_model.scaleout.shards import score_images_sharded
from fashion_model.score.images import score_images
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
    pool = shard_pool(scale)
    options = dict(
        model_version=plan.model_version,
        batch_size=plan.config.batch_size,
        rescore=plan.config.rescore,
        colors=plan.config.colors,
        runtime=plan.config.runtime,
    )
    manifests = list(plan.manifests)
    with connect(plan.db) as con, progress_reporter("scoring images") as progress:
        if pool is None:
            summary = score_images(
                con, manifests, plan.images, plan.models, progress=progress, **options
            )
        else:
            summary = score_images_sharded(
                con,
                manifests,
                plan.images,
                plan.models,
                home_root=plan.root,
                pool=pool,
                progress=progress,
                **options,
            )
    result = {**summary.as_dict(), "task_runner": (scale or ScaleOut()).describe()}
    publish_summary("score", result, f"Scoring with model {summary.model_version}")
    return result


@task(name="update-similarity-index", cache=False)
def update_similarity_index(db: Path, rebuild: bool) -> dict:
    """Add what scoring embedded to the nearest-neighbour index (rebuild on a new production
    model or `rebuild`). The index only speeds up search, and search falls back to an exact
    scan without it, so a failure here is a warning, not a failed run."""
    logger = run_logger()
    try:
        with (
            connect(db, read_only=True) as con,
            progress_reporter("indexing", "vector") as progress,
        ):
            result = update_index(con, db, rebuild=rebuild, log=logger.info, progress=progress)
    except Exception as error:  # noqa: BLE001 - reported, and searches fall back to exact
        logger.warning("similarity index not updated (%s); searches will scan exactly", error)
        return {"action": "failed", "reason": str(error).splitlines()[0] if str(error) else ""}
    summary = result.as_dict()
    publish_summary("similarity-index", summary, f"Similarity index: {result.action}")
    return summary
