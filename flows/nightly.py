"""Flow `nightly`: ingest a catalog -> score it into DuckDB -> report trends."""

from __future__ import annotations

from datetime import date

from prefect import flow

from flows.ingest import ingest
from flows.report import report
from flows.score import score


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
) -> dict:
    """`name` stays the same night after night so that incremental runs find their history;
    by default each night also retries the previous nights' transient failures."""
    ingested = ingest(
        catalog,
        home=home,
        name=name,
        allow_private=allow_private,
        concurrency=concurrency,
        retry_failed=retry_failed,
        per_host_rate=per_host_rate,
    )
    scored = score([name], home=home, model=model, as_of=as_of, retailer=retailer)
    reported = report(home=home, task=report_task, retailer=report_retailer)
    return {"ingest": ingested, "score": scored, "report": reported}
