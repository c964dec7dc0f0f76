"""Task wiring: what is retried, what is never cached."""

import duckdb
import pytest
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from fashion_model.errors import BadInput, PackagingError, WarehouseError
from fashion_model.tasks.common import retry_unless_bad_input
from fashion_model.tasks.ingest import download_images
from fashion_model.tasks.report import write_trend_report
from fashion_model.tasks.score import load_catalog_run, score_manifest_images
from fashion_model.tasks.train import train_model_version
from fashion_model.warehouse.sql import database_error, run_statement


def test_bad_input_is_never_retried_but_runtime_failures_are():
    def retried(error: Exception) -> bool:
        return retry_unless_bad_input(None, None, Failed(data=error))

    assert retried(BadInput("bad file")) is False
    assert retried(PackagingError("sql missing")) is False
    assert retried(WarehouseError("fashion.duckdb: disk full")) is True
    assert retried(ConnectionResetError("reset")) is True


def test_a_duckdb_io_or_memory_error_is_a_runtime_failure_not_bad_input(tmp_path):
    """The warehouse's own failures are retried and exit 1; a query the user got wrong is bad
    input (exit 2)."""
    con = duckdb.connect()
    with pytest.raises(BadInput, match="report.sql: Binder Error"):
        run_statement(con, "SELECT no_such_column FROM range(3)", {}, where="report.sql")
    # a real I/O error: reading a Parquet file that is not there
    with pytest.raises(WarehouseError) as failed:
        run_statement(con, f"SELECT * FROM '{tmp_path}/gone.parquet'", {}, where="load")
    assert failed.value.exit_code == 1 and failed.value.retryable
    out_of_memory = database_error("score", duckdb.OutOfMemoryException("could not allocate"))
    assert isinstance(out_of_memory, WarehouseError) and "could not allocate" in str(out_of_memory)
    assert BadInput("x").exit_code == 2 and not BadInput("x").retryable


def test_network_tasks_retry_and_writes_are_never_cached():
    assert download_images.retries == 2
    for task in (download_images, load_catalog_run, score_manifest_images):
        assert task.retry_condition_fn is retry_unless_bad_input, task.name
    for task in (
        download_images,
        load_catalog_run,
        score_manifest_images,
        train_model_version,
        write_trend_report,
    ):
        assert task.cache_policy is NO_CACHE, task.name
