"""Tasks: run the shipped SQL reports and draw the trend chart."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fashion_model.analytics import trend
from fashion_model.analytics.runs import compare_and_record
from fashion_model.tasks.tracking import markdown_artifact, run_logger, task
from fashion_model.warehouse.db import connect


@task(name="attribute-trend-report", cache=False)
def write_trend_report(db: Path, reports_dir: Path, task_name: str, retailer: str | None) -> dict:
    report = trend.write_trend_report(db, reports_dir, task_name, retailer)
    if report.note:
        run_logger().warning("empty %s report: %s", task_name, report.note)
    markdown_artifact(
        key=f"trend-{task_name}", markdown=report.markdown, description=report.description
    )
    return report.as_dict()


@task(name="compare-with-previous-run", cache=False)
def compare_with_previous_run(
    db: Path,
    as_of: date,
    manifest: str,
    records: int,
    failure_rate: float,
    problems: list[str] | None = None,
) -> dict:
    """Flag what moved since the previous nightly run (and `problems` of this one, such as a
    feed that failed); a markdown artifact shows it."""
    with connect(db) as con:
        comparison = compare_and_record(
            con,
            as_of=as_of,
            manifest=manifest,
            records=records,
            failure_rate=failure_rate,
            problems=problems or [],
        )
    markdown_artifact(
        key="nightly-comparison",
        markdown=comparison.markdown(),
        description="This nightly run against the previous one"
        + (" (FLAGGED)" if comparison.flagged else ""),
    )
    logger = run_logger()
    for flag in comparison.flags:
        logger.warning("flagged: %s", flag)
    return comparison.as_dict()
