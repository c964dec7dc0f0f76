"""Flow: load catalog runs into DuckDB and score their images with a model version."""

from __future__ import annotations

from datetime import date

from prefect import flow

from fashion_model.home import Home
from fashion_model.manifest import manifest_kind, resolve_manifest
from fashion_model.ops import warehouse_lock
from fashion_model.shards import ScaleOut
from tasks.common import run_holder
from tasks.score import load_catalog_run, score_manifest_images, update_similarity_index


@flow(name="score", log_prints=True)
def score(
    manifests: list[str],
    home: str | None = None,
    db: str | None = None,
    model: str = "production",
    as_of: date | None = None,
    retailer: str | None = None,
    batch_size: int = 64,
    rescore: bool = False,
    task_runner: str = "default",
    dask_address: str | None = None,
    dask_workers: int | None = None,
) -> dict:
    """task_runner "dask" scores in shards on Dask workers (see the ingest flow); this flow
    stays the one DuckDB writer."""
    scale = ScaleOut.from_options(task_runner, dask_address, dask_workers)
    paths = Home.resolve(home, db=db).ensure()
    resolved = [resolve_manifest(m, paths.manifests) for m in manifests]
    as_of = as_of or date.today()
    with warehouse_lock(paths.db, run_holder()):  # re-entered when nightly holds it
        loads = [
            load_catalog_run(paths.db, manifest, as_of, retailer)
            for manifest in resolved
            if manifest_kind(manifest) == "catalog"
        ]
        scored = score_manifest_images(
            paths.db,
            resolved,
            paths.images,
            paths.models,
            model,
            batch_size,
            rescore,
            scale,
            paths.root,
        )
        index = update_similarity_index(paths.db, rebuild=rescore)
    return {"catalog_loads": loads, **scored, "similarity_index": index}
