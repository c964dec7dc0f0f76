"""Flow `score`: catalog runs into DuckDB -> their images scored -> the similarity index updated.

It takes a `ScorePlan` (fashion_model/score/plan.py: `plan_score` checks every option, manifest
and the warehouse once, at the edge) and trusts it.
"""

from __future__ import annotations

from fashion_model.config import ScaleOut
from fashion_model.score.plan import ScorePlan
from fashion_model.tasks.score import (
    load_catalog_run,
    score_manifest_images,
    update_similarity_index,
)
from fashion_model.tasks.tracking import flow, run_holder
from fashion_model.warehouse.lock import warehouse_lock


@flow(name="score", log_prints=True, validate_parameters=False)
def score(plan: ScorePlan, scale_out: ScaleOut = ScaleOut()) -> dict:
    """`scale_out.task_runner` "dask" scores in shards on Dask workers (see the ingest flow);
    this flow stays the one DuckDB writer."""
    with warehouse_lock(plan.db, run_holder()):  # re-entered when nightly holds it
        loads = [
            load_catalog_run(
                db=plan.db, manifest_dir=manifest, as_of=plan.as_of, retailer=plan.config.retailer
            )
            for manifest in plan.catalogs
        ]
        scored = score_manifest_images(plan=plan, scale=scale_out)
        index = update_similarity_index(db=plan.db, rebuild=plan.config.rescore)
    return {"catalog_loads": loads, **scored, "similarity_index": index}
