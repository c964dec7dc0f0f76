"""Flow: run the shipped SQL reports against DuckDB and draw the trend chart."""

from __future__ import annotations

from prefect import flow

from fashion_model.home import Home
from tasks.report import write_trend_report


@flow(name="report", log_prints=True)
def report(
    home: str | None = None,
    db: str | None = None,
    task: str = "pattern",
    retailer: str | None = None,
) -> dict:
    paths = Home.resolve(home, db=db).ensure()
    return write_trend_report(paths.db, paths.reports, task, retailer)
