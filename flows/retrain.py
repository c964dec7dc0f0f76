"""Flow `retrain`: ingest labelled iMaterialist files -> train and register a model version."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from fashion_model.config import DownloadConfig, TrainConfig
from fashion_model.flows.ingest import ingest
from fashion_model.flows.train import train as train_flow
from fashion_model.model.train import check_train_config


@flow(name="retrain", log_prints=True, validate_parameters=False)
def retrain(
    train_file: str,
    validation_file: str | None = None,
    home: str | None = None,
    strict: bool = False,
    download: DownloadConfig = DownloadConfig(),
    train: TrainConfig = TrainConfig(),
) -> dict:
    download = DownloadConfig.parse(download, where="parameter download")
    train = check_train_config(TrainConfig.parse(train, where="parameter train"))
    names = []
    for split, source in (("train", train_file), ("validation", validation_file)):
        if source:
            name = Path(source).stem
            ingest(source=source, home=home, name=name, split=split, strict=strict,
                   download=download)  # fmt: skip
            names.append(name)
    return train_flow(manifests=names, home=home, config=train)
