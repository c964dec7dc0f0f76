"""Flow `retrain`: ingest labelled iMaterialist files -> train and register a model version.

It takes a `RetrainPlan` (the CLI's, from `plan_retrain`) or, from a deployment, the raw
parameters, planned first thing; below that nothing is checked again.
"""

from __future__ import annotations

from fashion_model.config import DownloadConfig, IngestConfig, TrainConfig, default_of
from fashion_model.flows.ingest import ingest
from fashion_model.flows.train import train as train_flow
from fashion_model.model.plan import RetrainPlan, plan_retrain
from fashion_model.tasks.tracking import flow


@flow(name="retrain", log_prints=True, validate_parameters=False)
def retrain(
    train_file: str | None = None,
    validation_file: str | None = None,
    home: str | None = None,
    strict: bool = default_of(IngestConfig, "strict"),
    download: DownloadConfig = DownloadConfig(),
    train: TrainConfig = TrainConfig(),
    extra: list[str] | None = None,
    plan: RetrainPlan | None = None,
) -> dict:
    """Ingest the labelled files and train. `extra` files (reviewed labels from `fashion review
    import`, or any other labelled iMaterialist file) are ingested as the `reviewed` split:
    trained on, and kept out of the validation hold-out unless
    `train.reviewed_in_validation`; the promotion rule is unchanged (validation on the same
    images as production). `plan` (the CLI's): the same, already checked; the other parameters
    are then not read."""
    plan = plan or plan_retrain(train_file, validation_file, home, strict, download, train, extra)
    for split, source, name in plan.sources:
        ingest(
            source=str(source),
            home=plan.home,
            name=name,
            split=split,
            strict=plan.strict,
            download=plan.download,
        )
    return train_flow(plan=plan.train_plan())
