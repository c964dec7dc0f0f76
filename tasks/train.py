"""Tasks: train and register a model version; promote one; optimise one."""

from __future__ import annotations

from pathlib import Path

from fashion_model.model.optimize import OptimizePlan, optimize
from fashion_model.model.plan import TrainPlan
from fashion_model.model.train import train_version
from fashion_model.score.promote import promote
from fashion_model.tasks.common import publish_summary
from fashion_model.tasks.tracking import run_logger, task


@task(name="train-model", cache=False)
def train_model_version(plan: TrainPlan) -> dict:
    summary = train_version(plan, log=run_logger().info)
    publish_summary("train", summary, f"Model {summary['model_version']}")
    return summary


@task(name="promote-model", cache=False)
def promote_model_version(models_root: Path, version: str, db: Path) -> dict:
    """Make `version` the production model, the same way `fashion model promote` does (the
    warehouse's label map is checked first)."""
    result = promote(models_root, version, db)
    run_logger().info("model %s is now production", version)
    return result


@task(name="optimize-model", cache=False)
def optimize_model_version(plan: OptimizePlan) -> dict:
    """`fashion model optimize`: the version's runtime variants, checked and registered. A
    variant that fails its checks is a warning here: scoring takes what was registered."""
    result = optimize(plan, log=run_logger().info, refused_ok=True)
    for why in result["refused"]:
        run_logger().warning("model %s: %s (scoring uses what passed)", plan.version, why)
    summary = {
        f"{name} {figure}": card[figure]
        for name, card in result["variants"].items()
        for figure in (
            "variant_micro_f1",
            "source_micro_f1",
            "embedding_cosine_mean",
            "top10_overlap",
        )
    }
    publish_summary("optimize", summary, f"Variants of model {plan.version}")
    return result
