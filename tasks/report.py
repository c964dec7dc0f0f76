"""Tasks: run the shipped SQL reports and draw the trend chart."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from fashion_model.analytics.reports import plot_shares, run_report, share_table, write_csv
from fashion_model.analytics.runs import compare_and_record
from fashion_model.warehouse.db import connect


@task(name="attribute-trend-report", cache_policy=NO_CACHE)
def write_trend_report(db: Path, reports_dir: Path, task_name: str, retailer: str | None) -> dict:
    with connect(db, read_only=True) as con:
        shares = run_report(con, "attribute_share", {"task": task_name, "retailer": retailer})
        outcomes = run_report(con, "download_outcomes", {})
    scope = retailer or "all retailers"
    stem = f"{task_name}_share_by_month_{(retailer or 'all').lower().replace(' ', '_')}"
    csv_path = write_csv(shares, reports_dir / f"{stem}.csv")
    chart = plot_shares(
        shares, f"{task_name.title()} share of new products: {scope}", reports_dir / f"{stem}.png"
    )
    table = share_table(shares)
    create_markdown_artifact(
        key=f"trend-{task_name}",
        markdown=f"## {task_name} share by month ({scope}), %\n\n{table.to_markdown()}\n\n"
        f"## Download outcomes\n\n{outcomes.to_markdown(index=False)}\n",
        description=f"{task_name} trend for {scope}",
    )
    return {"csv": str(csv_path), "chart": str(chart), "table": table.to_string()}


@task(name="compare-with-previous-run", cache_policy=NO_CACHE)
def compare_with_previous_run(
    db: Path, as_of: date, manifest: str, records: int, failure_rate: float
) -> dict:
    """Flag what moved since the previous nightly run; a markdown artifact shows it."""
    with connect(db) as con:
        comparison = compare_and_record(
            con, as_of=as_of, manifest=manifest, records=records, failure_rate=failure_rate
        )
    create_markdown_artifact(
        key="nightly-comparison",
        markdown=comparison.markdown(),
        description="This nightly run against the previous one"
        + (" (FLAGGED)" if comparison.flagged else ""),
    )
    logger = get_run_logger()
    for flag in comparison.flags:
        logger.warning("flagged: %s", flag)
    return comparison.as_dict()
