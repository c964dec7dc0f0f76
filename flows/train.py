"""Flow `train`: labelled manifests -> a registered model version."""

from __future__ import annotations

from fashion_model.config import TrainConfig
from fashion_model.home import Home
from fashion_model.ingest.manifest import resolve_manifest
from fashion_model.model.train import check_train_config
from fashion_model.tasks.tracking import flow
from fashion_model.tasks.train import train_model_version


@flow(name="train", log_prints=True, validate_parameters=False)
def train(
    manifests: list[str], home: str | None = None, config: TrainConfig = TrainConfig()
) -> dict:
    config = check_train_config(TrainConfig.parse(config, where="parameter config"))
    paths = Home.resolve(home).ensure()
    resolved = [resolve_manifest(m, paths.manifests) for m in manifests]
    return train_model_version(
        manifests=resolved, images_root=paths.images, models_root=paths.models, config=config
    )
