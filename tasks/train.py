"""Tasks: train and register a model version; promote one."""

from __future__ import annotations

from pathlib import Path

from fashion_model.model.plan import TrainPlan
from fashion_model.model.train import fit
from fashion_model.score.promote import promote
from fashion_model.tasks.common import publish_summary
from fashion_model.tasks.tracking import run_logger, task


@task(name="train-model", cache=False)
def train_model_version(plan: TrainPlan) -> dict:
    card = fit(plan, log=run_logger().info)
    summary = {"model_version": card.model_version, "threshold": card.threshold, **card.metrics}
    publish_summary("train", summary, f"Model {card.model_version}")
    return summary


@task(name="promote-model", cache=False)
def promote_model_version(models_root: Path, version: str, db: Path) -> dict:
    """Make `version` the production model, the same way `fashion model promote` does (the
    warehouse's label map is checked first)."""
    result = promote(models_root, version, db)
    run_logger().info("model %s is now production", version)
    return result
