"""Flow `score`: catalog runs into DuckDB -> their images scored -> the similarity index updated."""

from __future__ import annotations

from datetime import date

from fashion_model.config import ScaleOut, ScoreConfig
from fashion_model.home import Home
from fashion_model.ingest.manifest import manifest_kind, resolve_manifest
from fashion_model.tasks.score import (
    load_catalog_run,
    score_manifest_images,
    update_similarity_index,
)
from fashion_model.tasks.tracking import flow, run_holder
from fashion_model.warehouse.lock import warehouse_lock


@flow(name="score", log_prints=True, validate_parameters=False)
def score(
    manifests: list[str],
    home: str | None = None,
    db: str | None = None,
    config: ScoreConfig = ScoreConfig(),
    scale_out: ScaleOut = ScaleOut(),
) -> dict:
    """`scale_out.task_runner` "dask" scores in shards on Dask workers (see the ingest flow);
    this flow stays the one DuckDB writer."""
    config = ScoreConfig.parse(config, where="parameter config")
    scale_out = ScaleOut.parse(scale_out, where="parameter scale_out")
    paths = Home.resolve(home, db=db).ensure()
    resolved = [resolve_manifest(m, paths.manifests) for m in manifests]
    as_of = config.as_of or date.today()
    with warehouse_lock(paths.db, run_holder()):  # re-entered when nightly holds it
        loads = [
            load_catalog_run(
                db=paths.db, manifest_dir=manifest, as_of=as_of, retailer=config.retailer
            )  # fmt: skip
            for manifest in resolved
            if manifest_kind(manifest) == "catalog"
        ]
        scored = score_manifest_images(
            db=paths.db, manifests=resolved, images_root=paths.images, models_root=paths.models,
            config=config, scale=scale_out, home_root=paths.root,
        )  # fmt: skip
        index = update_similarity_index(db=paths.db, rebuild=config.rescore)
    return {"catalog_loads": loads, **scored, "similarity_index": index}
