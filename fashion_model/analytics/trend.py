"""The trend report of one task: the shipped `attribute_share` query as a CSV, its chart as a
PNG, and the markdown of it with the download outcomes (the report task's Prefect artifact).
What `fashion report` and the attribute-trend-report task both run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fashion_model.analytics.reports import (
    plot_nothing,
    plot_shares,
    run_report,
    share_table,
    write_csv,
)
from fashion_model.warehouse.db import connect


@dataclass(frozen=True)
class TrendReport:
    csv: Path
    chart: Path
    table: str  # the share table as text, or the note of an empty report
    markdown: str
    description: str
    note: str | None = None  # why the report is empty

    def as_dict(self) -> dict:
        return {
            "csv": str(self.csv),
            "chart": str(self.chart),
            "table": self.table,
            "empty": self.note is not None,
        }


def write_trend_report(
    db: Path, reports_dir: Path, task_name: str, retailer: str | None
) -> TrendReport:
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
        chart = plot_nothing(title, note, reports_dir / f"{stem}.png")
        table_text = note
    else:
        chart = plot_shares(shares, title, reports_dir / f"{stem}.png")
        table_text = share_table(shares).to_markdown()
    markdown = (
        f"## {task_name} share by month ({scope}), %\n\n{table_text}\n\n"
        f"## Download outcomes\n\n{outcomes.to_markdown(index=False)}\n"
    )
    return TrendReport(
        csv=csv_path,
        chart=chart,
        table=note or share_table(shares).to_string(),
        markdown=markdown,
        description=f"{task_name} trend for {scope}" + (" (empty)" if note else ""),
        note=note,
    )
