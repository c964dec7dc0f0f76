"""Flow: train a model version on labelled manifests and register it."""

from __future__ import annotations

from prefect import flow

from fashion_model.home import Home
from fashion_model.manifest import resolve_manifest
from fashion_model.train import TrainConfig
from tasks.train import train_model_version


@flow(name="train", log_prints=True)
def train(
    manifests: list[str],
    home: str | None = None,
    epochs: int = 6,
    image_size: int = 64,
    batch_size: int = 16,
    max_steps: int = -1,
    seed: int = 0,
    weights: str = "auto",
    force: bool = False,
    resume: bool = False,
    max_minutes: float | None = None,
    devices: int | str = "auto",
    compile: bool = False,
) -> dict:
    paths = Home.resolve(home).ensure()
    config = TrainConfig(
        epochs=epochs, image_size=image_size, batch_size=batch_size, max_steps=max_steps,
        seed=seed, weights=weights, force_promote=force, resume=resume,
        max_minutes=max_minutes, devices=devices, compile=compile,
    )  # fmt: skip
    config.validate()
    resolved = [resolve_manifest(m, paths.manifests) for m in manifests]
    return train_model_version(resolved, paths.images, paths.models, config)
