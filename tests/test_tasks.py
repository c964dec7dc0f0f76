"""Task wiring: what is retried, what is never cached."""

import duckdb
import pytest
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from fashion_model.errors import BadInput, PackagingError, WarehouseError
from fashion_model.sqlfiles import database_error, run_statement
from fashion_model.tasks.common import retry_unless_bad_input
from fashion_model.tasks.ingest import download_images
from fashion_model.tasks.report import write_trend_report
from fashion_model.tasks.score import load_catalog_run, score_manifest_images
from fashion_model.tasks.train import train_model_version


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


def test_a_task_that_fails_at_runtime_is_retried_by_prefect_and_bad_input_is_not(
    prefect_harness, monkeypatch, tmp_path
):
    """The stage task that writes a catalog load, run by Prefect: a warehouse failure (a
    runtime failure) makes Prefect run it again, which then succeeds; bad input fails at once."""
    from datetime import date

    from prefect import flow

    from fashion_model.tasks import score as score_tasks
    from fashion_model.warehouse.catalog import CatalogLoad

    calls = []

    def flaky_load(con, manifest_dir, as_of, retailer):
        calls.append(manifest_dir)
        if len(calls) == 1:
            raise WarehouseError("disk full (the first time only)")
        if manifest_dir.name == "bad":
            raise BadInput("bad.csv: line 2: no product_id")
        return CatalogLoad(products=1, images_ok=1, images_failed=0, observed_on=str(as_of))

    monkeypatch.setattr(score_tasks, "load_catalog", flaky_load)
    quick = load_catalog_run.with_options(retry_delay_seconds=0)

    @flow
    def load(manifest: str):
        return quick(
            db=tmp_path / "w.duckdb",
            manifest_dir=tmp_path / manifest,
            as_of=date(2026, 12, 1),
            retailer="R",
        )

    assert load("ok")["products"] == 1
    assert len(calls) == 2  # failed once, retried by Prefect, then done
    state = load("bad", return_state=True)
    assert state.is_failed() and len(calls) == 3  # bad input: no second attempt
    with pytest.raises(BadInput, match="no product_id"):
        state.result()
    assert load_catalog_run.retries == 1 and download_images.retries == 2
    for task in (
        download_images,
        load_catalog_run,
        score_manifest_images,
        train_model_version,
        write_trend_report,
    ):
        assert task.cache_policy is NO_CACHE, task.name  # writes are never cached


PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('IMPORTED', 'torch' in sys.modules, 'prefect' in sys.modules,"
    " file=sys.stderr))\n"
    "sys.argv = ['fashion'] + sys.argv[1:]\n"
    "from fashion_model.flows.cli import main\n"
    "main()\n"
)


def _fashion_probe(args, env):
    """Run `fashion ARGS` in its own process; (result, imported torch, imported prefect)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=300
    )
    line = next(x for x in result.stderr.splitlines()[::-1] if x.startswith("IMPORTED"))
    _, torch, prefect = line.split()
    return result, torch == "True", prefect == "True"


def test_a_single_stage_command_calls_the_library_without_prefect(
    catalog_server, trained_home, tmp_path
):
    """`fashion ingest` never imports Prefect nor starts a server, even with a Prefect API
    configured (a team tracks a stage by running its deployment): the library's stage, its
    progress, warnings and summary."""
    import os

    folder, _ = catalog_server
    env = {**os.environ, "FASHION_HOME": str(tmp_path / "home")}
    env["PREFECT_API_URL"] = "http://127.0.0.1:9/api"  # configured, and never asked
    result, torch, prefect = _fashion_probe(
        ["ingest", str(folder / "validation.json"), "--allow-private"], env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert not prefect and not torch
    assert "Starting temporary server" not in result.stderr
    assert "ingested validation.json:" in result.stderr
    assert "ingest summary" in result.stderr and "records:" in result.stderr
    for args in (["--help"], ["model", "list", "--home", str(trained_home)], ["sql", "--list"]):
        result, torch, prefect = _fashion_probe(args, env)
        assert result.returncode == 0, (args, result.stderr[-2000:])
        assert not torch and not prefect, args


def test_a_score_with_nothing_new_loads_neither_torch_nor_the_model(trained_home, tmp_path):
    """`fashion score` over a catalog already scored by the production model: the catalog is
    loaded and the analytics refreshed, but torch (~5 s to import) is never imported."""
    import os
    import shutil
    from datetime import date

    from fashion_model.score.images import score_images
    from fashion_model.warehouse.catalog import load_catalog
    from fashion_model.warehouse.db import connect

    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    with connect(home / "fashion.duckdb") as con:
        load_catalog(con, home / "manifests" / "catalog", date(2026, 11, 1))
        first = score_images(
            con, [home / "manifests" / "catalog"], home / "images", home / "models", num_workers=0
        )
    assert first.scored > 0
    env = {**os.environ, "FASHION_HOME": str(home), "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    result, torch, prefect = _fashion_probe(
        ["score", "--manifest", "catalog", "--as-of", "2026-11-02"], env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert not torch and not prefect
    assert "scored: 0" in result.stderr, result.stderr[-2000:]
    with connect(home / "fashion.duckdb", read_only=True) as con:
        seen = con.execute("SELECT max(last_seen) FROM products").fetchone()[0]
    assert seen == date(2026, 11, 2)  # the catalog run was still loaded
