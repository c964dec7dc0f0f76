"""Flow `report`: the shipped SQL reports against DuckDB -> CSV and the trend chart PNG."""

from __future__ import annotations

from fashion_model.config import ReportConfig
from fashion_model.home import Home
from fashion_model.tasks.report import write_trend_report
from fashion_model.tasks.tracking import flow


@flow(name="report", log_prints=True, validate_parameters=False)
def report(
    home: str | None = None, db: str | None = None, config: ReportConfig = ReportConfig()
) -> dict:
    config = ReportConfig.parse(config, where="parameter config")
    paths = Home.resolve(home, db=db).ensure()
    return write_trend_report(
        db=paths.db, reports_dir=paths.reports, task_name=config.task, retailer=config.retailer
    )
