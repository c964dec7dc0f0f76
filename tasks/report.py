"""Tasks: run the shipped SQL reports and draw the trend chart."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fashion_model.analytics.reports import (
    plot_nothing,
    plot_shares,
    run_report,
    share_table,
    write_csv,
)
from fashion_model.analytics.runs import compare_and_record
from fashion_model.tasks.tracking import markdown_artifact, run_logger, task
from fashion_model.warehouse.db import connect


@task(name="attribute-trend-report", cache=False)
def write_trend_report(db: Path, reports_dir: Path, task_name: str, retailer: str | None) -> dict:
    with connect(db, read_only=True) as con:
        shares = run_report(con, "attribute_share", {"task": task_name, "retailer": retailer})
        outcomes = run_report(con, "download_outcomes", {})
    scope = retailer or "all retailers"
    stem = f"{task_name}_share_by_month_{(retailer or 'all').lower().replace(' ', '_')}"
    csv_path = write_csv(shares, reports_dir / f"{stem}.csv")
    title = f"{task_name.title()} share of new products: {scope}"
    note = None
    if shares.empty:  # a night without such predictions still completes, and says so
        note = (
            f"no scored product of {scope} has a predicted {task_name} label "
            "(nothing scored yet, or the model predicts none of this task's labels)"
        )
        run_logger().warning("empty %s report: %s", task_name, note)
        chart = plot_nothing(title, note, reports_dir / f"{stem}.png")
        table_text = note
    else:
        chart = plot_shares(shares, title, reports_dir / f"{stem}.png")
        table_text = share_table(shares).to_markdown()
    markdown_artifact(
        key=f"trend-{task_name}",
        markdown=f"## {task_name} share by month ({scope}), %\n\n{table_text}\n\n"
        f"## Download outcomes\n\n{outcomes.to_markdown(index=False)}\n",
        description=f"{task_name} trend for {scope}" + (" (empty)" if note else ""),
    )
    table = note or share_table(shares).to_string()
    return {"csv": str(csv_path), "chart": str(chart), "table": table, "empty": bool(note)}


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
