"""Flow `retrain`: ingest labelled iMaterialist files -> train and register a model version."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.ingest import ingest
from flows.train import train


@flow(name="retrain", log_prints=True)
def retrain(
    train_file: str,
    validation_file: str | None = None,
    home: str | None = None,
    epochs: int = 6,
    image_size: int = 64,
    batch_size: int = 16,
    max_steps: int = -1,
    allow_private: bool = False,
    strict: bool = False,
    weights: str = "auto",
    per_host_rate: float = 50.0,
) -> dict:
    names = []
    for split, source in (("train", train_file), ("validation", validation_file)):
        if source:
            name = Path(source).stem
            ingest(
                source,
                home=home,
                name=name,
                split=split,
                allow_private=allow_private,
                strict=strict,
                per_host_rate=per_host_rate,
            )
            names.append(name)
    return train(
        names,
        home=home,
        epochs=epochs,
        image_size=image_size,
        batch_size=batch_size,
        max_steps=max_steps,
        weights=weights,
    )
