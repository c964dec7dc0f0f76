"""Tasks: load a catalog run into the warehouse, and score images into it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from fashion_model.db import connect
from fashion_model.products import load_catalog
from fashion_model.score import score_images
from fashion_model.shards import ScaleOut, score_images_sharded
from fashion_model.vector_index import update_index
from tasks.common import progress_reporter, publish_summary
from tasks.scaleout import shard_pool


@task(name="load-catalog", cache_policy=NO_CACHE)  # a write to DuckDB: never cached
def load_catalog_run(db: Path, manifest_dir: Path, as_of: date, retailer: str | None) -> dict:
    with connect(db) as con:
        result = asdict(load_catalog(con, manifest_dir, as_of, retailer))
    publish_summary("catalog-load", result, f"Catalog {manifest_dir.name} as of {as_of}")
    return result


@task(name="score-images", cache_policy=NO_CACHE)
def score_manifest_images(
    db: Path,
    manifests: list[Path],
    images_root: Path,
    models_root: Path,
    model_version: str | None,
    batch_size: int,
    rescore: bool,
    scale: ScaleOut | None = None,
    home_root: Path | None = None,
) -> dict:
    """In the flow's process, or (scale.runner 'dask') in shards on Dask workers that write
    Parquet parts under HOME/scratch which this task, the one DuckDB writer, loads."""
    pool = shard_pool(scale)
    with connect(db) as con, progress_reporter("scoring images") as progress:
        if pool is None:
            summary = score_images(
                con, manifests, images_root, models_root, model_version, batch_size,
                rescore=rescore, progress=progress,
            )  # fmt: skip
        else:
            scratch = home_root or Path(images_root).parent
            summary = score_images_sharded(
                con, manifests, images_root, models_root, scratch, pool, model_version,
                batch_size, rescore=rescore, progress=progress,
            )  # fmt: skip
    result = {**summary.as_dict(), "task_runner": (scale or ScaleOut()).describe()}
    publish_summary("score", result, f"Scoring with model {summary.model_version}")
    return result


@task(name="update-similarity-index", cache_policy=NO_CACHE)
def update_similarity_index(db: Path, rebuild: bool) -> dict:
    """Add what scoring embedded to the nearest-neighbour index (rebuild on a new production
    model or `rebuild`). The index only speeds up search, and search falls back to an exact
    scan without it, so a failure here is a warning, not a failed run."""
    logger = get_run_logger()
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
