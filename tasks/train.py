"""Tasks: train and register a model version; promote one."""

from __future__ import annotations

from pathlib import Path

from fashion_model.config import TrainConfig
from fashion_model.model.train import train_model
from fashion_model.score.promote import promote
from fashion_model.tasks.common import publish_summary
from fashion_model.tasks.tracking import run_logger, task


@task(name="train-model", cache=False)
def train_model_version(
    manifests: list[Path], images_root: Path, models_root: Path, config: TrainConfig
) -> dict:
    logger = run_logger()
    card = train_model(manifests, images_root, models_root, config=config, log=logger.info)
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
