"""Prefect for the flows: the `task` decorator every stage's task uses, the run logger, who
holds the warehouse, and the artifacts.

Only flows/ and tasks/ import this. The single-stage commands (`fashion ingest`, `score`,
`train`, `report`, ...) never do: they call the library stage functions themselves, with their
own progress bars and summary, and start no Prefect server. Flows (`nightly`, `retrain`,
`demo`, the deployments of prefect.yaml) always run under Prefect, as tasks over those same
library functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger
from prefect import task as prefect_task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from fashion_model.warehouse.lock import this_command

__all__ = ["flow", "markdown_artifact", "run_holder", "run_logger", "table_artifact", "task"]

run_logger = get_run_logger
table_artifact = create_table_artifact
markdown_artifact = create_markdown_artifact


def task(cache: bool = True, **options: Any) -> Callable[[Callable], Any]:
    """`prefect.task(**options)`; `cache=False` is `cache_policy=NO_CACHE`."""
    return prefect_task(**options, **({} if cache else {"cache_policy": NO_CACHE}))


def run_holder() -> str:
    """Who is writing, for the warehouse lock: 'flow run nightly/amber-fox (id)', or the PID."""
    if flow_run.id:
        return f"flow run {flow_run.flow_name}/{flow_run.name} ({flow_run.id})"
    return this_command()
