"""Flow `train`: labelled manifests -> a registered model version.

It takes a `TrainPlan` (fashion_model/model/plan.py: `plan_train` checks the options and the
manifests once, at the edge) and trusts it.
"""

from __future__ import annotations

from fashion_model.model.plan import TrainPlan
from fashion_model.tasks.tracking import flow
from fashion_model.tasks.train import train_model_version


@flow(name="train", log_prints=True, validate_parameters=False)
def train(plan: TrainPlan) -> dict:
    return train_model_version(plan=plan)
