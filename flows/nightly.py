"""Flow `nightly`: ingest the catalog feeds -> score them into DuckDB -> report trends ->
snapshot.

One catalog, or several feeds (a feeds YAML file, or `config.feeds`): the team's own export and
each competitor's, each ingested under its own manifest name, scored and compared in one run.
A feed that fails to download or parse fails that feed (reported; the run is flagged), not the
night, unless it was the only one. The whole run holds the warehouse's writer lock (a second
run fails at once naming the first, or waits `config.lock_wait_minutes`); each stage has a
timeout; a failed stage fails the run with a message that names the stage, the cause and the
command that resumes it. At the end the database is published as HOME/fashion-snapshot.duckdb
for the read-only commands.
"""

from __future__ import annotations

import os

from fashion_model.analytics.runs import notify
from fashion_model.config import (
    DownloadConfig,
    NightlyConfig,
    ScaleOut,
    ScoreConfig,
)
from fashion_model.errors import BadInput, StageFailed
from fashion_model.flows.ingest import ingest
from fashion_model.flows.report import report
from fashion_model.flows.score import score
from fashion_model.home import Home
from fashion_model.ingest.feed_items import missing_retailer
from fashion_model.ops.nightly import NightlyPlan, plan_nightly
from fashion_model.score.plan import plan_score
from fashion_model.tasks.report import compare_with_previous_run
from fashion_model.tasks.tracking import flow, run_holder, run_logger
from fashion_model.warehouse.lock import publish_snapshot, warehouse_lock


def run_stage(stage: str, resume: str, minutes: float, subflow, **parameters):
    """Run a subflow with a timeout; turn its failure into one line naming stage and resume."""
    try:
        return subflow.with_options(timeout_seconds=minutes * 60)(**parameters)
    except Exception as error:
        cause = " ".join(str(error).split()) or type(error).__name__
        if "timed out" in cause.lower() or isinstance(error, TimeoutError):
            cause = f"timed out after {minutes:g} min ({cause})"
        raise StageFailed(
            f"stage '{stage}' failed: {cause[:500]}; resume with: {resume}", error
        ) from None


@flow(name="nightly", log_prints=True, validate_parameters=False)
def nightly(
    catalog: str | None = None,
    home: str | None = None,
    config: NightlyConfig = NightlyConfig(),
    download: DownloadConfig = DownloadConfig(),
    scale_out: ScaleOut = ScaleOut(),
    plan: NightlyPlan | None = None,
) -> dict:
    """`catalog`: a feed (file or http(s) URL; read as `config.feed` says), or a feeds YAML
    file; or leave it out and list `config.feeds`. `plan` (the CLI's): the same, already
    checked by `plan_nightly`; the other parameters are then not read.

    `config.name` stays the same night after night so that incremental runs find their
    history; by default each night also retries the previous nights' transient failures.

    `config.notify_url` (or $FASHION_NOTIFY_URL): a webhook that gets a JSON POST when the run
    fails or is flagged by the comparison with the previous run; a receiver that does not answer
    never fails the run.

    `scale_out.task_runner` "dask" runs the download and scoring stages in shards on a Dask
    cluster: the scheduler at `scale_out.dask_address` (or $FASHION_DASK_ADDRESS), else a local
    cluster of `scale_out.dask_workers` processes.

    Returns `ingest` (each feed's outcome by manifest name), `failed_feeds`, `score`, `report`,
    `comparison` and `snapshot`, for one feed as for several."""
    root = Home.resolve(plan.home if plan else home).root
    notify_url = os.environ.get("FASHION_NOTIFY_URL") or None  # until config is read
    holder = run_holder()
    try:
        # Everything a run needs, checked before any work: a bad parameter fails at once.
        plan = plan or plan_nightly(catalog, home, config, download, scale_out)
        notify_url = plan.config.notify_url or notify_url
        result = _run_stages(plan, holder)
    except Exception as error:
        message = " ".join(str(error).split()) or type(error).__name__
        payload = {"status": "failed", "run": holder, "home": str(root), "message": message}
        run_logger().info(notify(notify_url, payload))
        raise
    comparison = result["comparison"]
    if comparison["flagged"]:
        payload = {"status": "flagged", "run": holder, "home": str(root), **comparison}
        run_logger().info(notify(notify_url, payload))
    return result


def _run_stages(plan: NightlyPlan, holder: str) -> dict:
    paths = Home.resolve(plan.home).ensure()
    config, home = plan.config, plan.home
    where = f"--home {paths.root}"
    minutes = config.stage_timeout_minutes
    ingested, failed = {}, {}
    with warehouse_lock(paths.db, holder, config.lock_wait_minutes * 60):
        for spec in plan.feeds:
            try:
                result = run_stage(
                    "ingest",
                    f"fashion nightly {spec.source} {where} --name {spec.name} "
                    "(finished downloads are kept)",
                    minutes,
                    ingest,
                    source=spec.source,
                    home=home,
                    name=spec.name,
                    retry_failed=config.retry_failed,
                    download=plan.download,
                    scale_out=plan.scale_out,
                    feed=plan.feed_config(spec),
                )
                without = (result.get("feed") or {}).get("without_retailer", 0)
                if problem := missing_retailer(without, config.retailer):
                    raise StageFailed(
                        f"stage 'ingest' failed: {spec.source}: {problem}", BadInput(problem)
                    )
                ingested[spec.name] = result
            except StageFailed as error:
                if len(plan.feeds) == 1:
                    raise
                failed[spec.name] = str(error)
                run_logger().error("feed %s (%s) failed: %s", spec.name, spec.source, error)
        if not ingested:
            raise StageFailed(
                f"stage 'ingest' failed for every feed: {'; '.join(failed.values())[:800]}", None
            )
        names = list(ingested)
        scored = run_stage(
            "score",
            f"fashion score {where} {' '.join(f'--manifest {n}' for n in names)}, "
            f"then fashion report {where}",
            minutes,
            score,
            plan=plan_score(
                home,
                names,
                ScoreConfig(model=plan.model_version, as_of=plan.as_of, retailer=config.retailer),
            ),
            scale_out=plan.scale_out,
        )
        reported = run_stage(
            "report",
            f"fashion report {where} --task {config.report.task}",
            minutes,
            report,
            home=home,
            config=config.report,
        )
        records = sum(result["records"] for result in ingested.values())
        failures = sum(result["failure_rate"] * result["records"] for result in ingested.values())
        comparison = compare_with_previous_run(
            db=paths.db,
            as_of=plan.as_of,
            manifest=",".join(names),
            records=records,
            failure_rate=failures / records if records else 0.0,
            problems=[f"feed {name} failed: {message}" for name, message in failed.items()],
        )
        snapshot = publish_snapshot(paths.db, holder)
    run_logger().info("published the read-only snapshot %s", snapshot)
    return {
        "ingest": ingested,  # by manifest name, for one feed as for several
        "failed_feeds": failed,
        "score": scored,
        "report": reported,
        "comparison": comparison,
        "snapshot": str(snapshot),
    }
