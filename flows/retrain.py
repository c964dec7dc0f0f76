"""Flow `retrain`: ingest labelled iMaterialist files -> train and register a model version."""

from __future__ import annotations

from pathlib import Path

from fashion_model.config import DownloadConfig, IngestConfig, TrainConfig, default_of
from fashion_model.errors import BadInput
from fashion_model.flows.ingest import ingest
from fashion_model.flows.train import train as train_flow
from fashion_model.model.train import check_train_config
from fashion_model.tasks.tracking import flow


@flow(name="retrain", log_prints=True, validate_parameters=False)
def retrain(
    train_file: str,
    validation_file: str | None = None,
    home: str | None = None,
    strict: bool = default_of(IngestConfig, "strict"),
    download: DownloadConfig = DownloadConfig(),
    train: TrainConfig = TrainConfig(),
    extra: list[str] | None = None,
) -> dict:
    """Ingest the labelled files and train. `extra` files (reviewed labels from `fashion review
    import`, or any other labelled iMaterialist file) are ingested as the `reviewed` split:
    trained on, and kept out of the validation hold-out unless
    `train.reviewed_in_validation`; the promotion rule is unchanged (validation on the same
    images as production)."""
    download = DownloadConfig.parse(download, where="parameter download")
    train = check_train_config(TrainConfig.parse(train, where="parameter train"))
    names = []
    for split, source in (("train", train_file), ("validation", validation_file)):
        if source:
            name = Path(source).stem
            ingest(source=source, home=home, name=name, split=split, strict=strict,
                   download=download)  # fmt: skip
            names.append(name)
    for source in extra or []:
        name = Path(source).stem
        if name in names:
            raise BadInput(f"{source}: another input has the manifest name {name!r}; rename it")
        ingest(source=source, home=home, name=name, split="reviewed", strict=strict,
               download=download)  # fmt: skip
        names.append(name)
    return train_flow(manifests=names, home=home, config=train)
