"""Flow `nightly`: ingest a catalog -> score it into DuckDB -> report trends -> snapshot.

The whole run holds the warehouse's writer lock (a second run fails at once naming the first,
or waits `lock_wait_minutes`); each stage has a timeout; a failed stage fails the run with a
message that names the stage, the cause and the command that resumes it. At the end the
database is published as HOME/fashion-snapshot.duckdb for the read-only commands.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger

from fashion_model.errors import FashionError, StageFailed
from fashion_model.home import Home
from fashion_model.labels import default_label_map
from fashion_model.ops import publish_snapshot, warehouse_lock
from fashion_model.registry import resolve_version
from fashion_model.runs import notify
from fashion_model.shards import ScaleOut
from fashion_model.sources import open_source
from flows.ingest import ingest
from flows.report import report
from flows.score import score
from tasks.common import run_holder
from tasks.report import compare_with_previous_run


def run_stage(stage: str, resume: str, minutes: float, subflow, *args, **kwargs):
    """Run a subflow with a timeout; turn its failure into one line naming stage and resume."""
    try:
        return subflow.with_options(timeout_seconds=minutes * 60)(*args, **kwargs)
    except Exception as error:
        cause = " ".join(str(error).split()) or type(error).__name__
        if "timed out" in cause.lower() or isinstance(error, TimeoutError):
            cause = f"timed out after {minutes:g} min ({cause})"
        raise StageFailed(f"stage '{stage}' failed: {cause[:500]}; resume with: {resume}") from None


def check_nightly_parameters(
    catalog: str, home: str | None, model: str, concurrency: int, dask: dict, **numbers: float
) -> None:
    """Everything a run needs, checked before any work: a bad parameter fails at once."""
    ScaleOut.from_options(dask["task_runner"], dask["dask_address"], dask["dask_workers"])
    if concurrency < 1:
        raise FashionError(f"parameter concurrency={concurrency}: must be at least 1")
    for name, value in numbers.items():
        if value is None or value < 0:
            raise FashionError(f"parameter {name}={value!r}: must be 0 or more")
    open_source(Path(catalog), default_label_map())
    resolve_version(Home.resolve(home).models, model)


@flow(name="nightly", log_prints=True)
def nightly(
    catalog: str,
    home: str | None = None,
    name: str = "catalog",
    retailer: str | None = None,
    as_of: date | None = None,
    model: str = "production",
    report_task: str = "pattern",
    report_retailer: str | None = None,
    allow_private: bool = False,
    concurrency: int = 64,
    retry_failed: bool = True,
    per_host_rate: float = 50.0,
    stage_timeout_minutes: float = 240.0,
    lock_wait_minutes: float = 0.0,
    notify_url: str | None = None,
    task_runner: str = "default",
    dask_address: str | None = None,
    dask_workers: int | None = None,
) -> dict:
    """`name` stays the same night after night so that incremental runs find their history;
    by default each night also retries the previous nights' transient failures.

    `notify_url` (or $FASHION_NOTIFY_URL): a webhook that gets a JSON POST when the run fails or
    is flagged by the comparison with the previous run; a receiver that does not answer never
    fails the run.

    `task_runner` "dask" runs the download and scoring stages in shards on a Dask cluster: the
    scheduler at `dask_address` (or $FASHION_DASK_ADDRESS), else a local cluster of
    `dask_workers` processes."""
    root = Home.resolve(home).root
    notify_url = notify_url or os.environ.get("FASHION_NOTIFY_URL") or None
    as_of = as_of or date.today()
    holder = run_holder()
    try:
        dask = {"task_runner": task_runner, "dask_address": dask_address,
                "dask_workers": dask_workers}  # fmt: skip
        check_nightly_parameters(catalog, home, model, concurrency, dask,
                                 per_host_rate=per_host_rate,
                                 stage_timeout_minutes=stage_timeout_minutes,
                                 lock_wait_minutes=lock_wait_minutes)  # fmt: skip
        paths = Home.resolve(home).ensure()
        result = _nightly(paths, holder, catalog, home, name, retailer, as_of, model,
                          report_task, report_retailer, allow_private, concurrency, retry_failed,
                          per_host_rate, stage_timeout_minutes, lock_wait_minutes,
                          dask)  # fmt: skip
    except Exception as error:
        message = " ".join(str(error).split()) or type(error).__name__
        payload = {"status": "failed", "run": holder, "home": str(root), "message": message}
        get_run_logger().info(notify(notify_url, payload))
        raise
    comparison = result["comparison"]
    if comparison["flagged"]:
        payload = {"status": "flagged", "run": holder, "home": str(root), **comparison}
        get_run_logger().info(notify(notify_url, payload))
    return result


def _nightly(paths, holder, catalog, home, name, retailer, as_of, model, report_task,
             report_retailer, allow_private, concurrency, retry_failed, per_host_rate,
             minutes, lock_wait_minutes, dask) -> dict:  # fmt: skip
    where = f"--home {paths.root}"
    stage = run_stage
    with warehouse_lock(paths.db, holder, lock_wait_minutes * 60):
        ingested = stage(
            "ingest",
            f"fashion nightly {catalog} {where} --name {name} (finished downloads are kept)",
            minutes,
            ingest,
            catalog,
            home=home,
            name=name,
            allow_private=allow_private,
            concurrency=concurrency,
            retry_failed=retry_failed,
            per_host_rate=per_host_rate,
            **dask,
        )
        scored = stage(
            "score",
            f"fashion score {where} --manifest {name}, then fashion report {where}",
            minutes,
            score,
            [name],
            home=home,
            model=model,
            as_of=as_of,
            retailer=retailer,
            **dask,
        )
        reported = stage(
            "report",
            f"fashion report {where} --task {report_task}",
            minutes,
            report,
            home=home,
            task=report_task,
            retailer=report_retailer,
        )
        comparison = compare_with_previous_run(
            paths.db, as_of, name, ingested["records"], ingested["failure_rate"]
        )
        snapshot = publish_snapshot(paths.db)
    get_run_logger().info("published the read-only snapshot %s", snapshot)
    return {
        "ingest": ingested,
        "score": scored,
        "report": reported,
        "comparison": comparison,
        "snapshot": str(snapshot),
    }
