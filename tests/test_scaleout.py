"""Scale-out: the download and scoring stages sharded on a real 2-worker Dask LocalCluster
(prefect-dask) give what the default runner gives."""

from __future__ import annotations

import csv
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import pyarrow.parquet as pq
import pytest

from fashion_model.config import DownloadConfig, ScaleOut, ScoreConfig
from fashion_model.errors import FashionError
from fashion_model.ingest.pipeline import ingest_source
from fashion_model.scaleout import shards
from fashion_model.scaleout.shards import ExecutorShards, sharded_fetcher
from fashion_model.warehouse.db import connect

from .conftest import LOCAL

FAULTS = ("gone.jpg", "html.jpg", "truncated.jpg", "noai.jpg", "bomb.png")


def _catalog_with_faults(catalog_server, faulty_server, folder):
    """The synthetic catalog plus rows whose downloads fail in known ways, and a repeated URL."""
    source, _ = catalog_server
    base_url = faulty_server[0]
    with open(source / "catalog.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    extra = [
        {**rows[0], "product_id": f"FAULT-{i}", "image_url": f"{base_url}/{name}"}
        for i, name in enumerate(FAULTS)
    ]
    extra.append({**rows[1], "product_id": "REPEAT-1"})
    path = folder / "catalog.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows + extra)
    return path


def _home_with_model(trained_home, path):
    path.mkdir()
    shutil.copytree(trained_home / "models", path / "models")
    return path


def _manifest(home):
    table = pq.read_table(home / "manifests" / "catalog")
    return table.select(["source_id", "url", "status", "http_status", "sha256", "path"]).to_pylist()


def _warehouse(home):
    with connect(home / "fashion.duckdb", read_only=True) as con:
        products = con.sql(
            "SELECT product_id, image_sha256, image_status FROM product_images ORDER BY ALL"
        ).fetchall()
        labels = con.sql("SELECT image_sha256, label_id FROM predictions ORDER BY ALL").fetchall()
        failures = con.sql(
            "SELECT image_sha256, reason FROM score_failures ORDER BY ALL"
        ).fetchall()
        vectors = con.sql("SELECT image_sha256, embedding FROM embeddings ORDER BY 1").fetchall()
        colours = con.sql(
            "SELECT * EXCLUDE (measured_at) FROM color_measurements ORDER BY ALL"
        ).fetchall()
        colours += con.sql(
            "SELECT image_sha256, rank, hex, name FROM image_colors ORDER BY ALL"
        ).fetchall()
    vectors = {sha: np.asarray(v, np.float64) for sha, v in vectors}
    return products, labels, failures, vectors, colours


@pytest.mark.slow
def test_dask_runner_gives_the_default_runners_products_statuses_labels_and_embeddings(
    prefect_harness, trained_home, catalog_server, faulty_server, tmp_path, monkeypatch
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    from fashion_model.flows.ingest import ingest
    from fashion_model.flows.nightly import nightly
    from fashion_model.flows.score import score
    from fashion_model.score.plan import plan_score

    catalog = _catalog_with_faults(catalog_server, faulty_server, tmp_path)
    # Small shards, so that 36 records make several of each kind across the two workers.
    monkeypatch.setattr(shards, "DOWNLOAD_SHARD", 8)
    monkeypatch.setattr(shards, "SCORE_SHARD", 7)
    day = date(2026, 11, 27)
    default_home = _home_with_model(trained_home, tmp_path / "default")
    local = DownloadConfig(allow_private=True, per_host_rate=0)
    default_ingest = ingest(
        source=str(catalog), home=str(default_home), name="catalog", download=local
    )
    default_score = score(plan=plan_score(default_home, ["catalog"], ScoreConfig(as_of=day)))
    # The dask side runs as the nightly deployment would, with its parameters as mappings.
    dask_home = _home_with_model(trained_home, tmp_path / "dask")
    result = nightly(
        catalog=str(catalog),
        home=str(dask_home),
        config={"as_of": day.isoformat()},
        download={"allow_private": True, "per_host_rate": 0},
        scale_out={"task_runner": "dask", "dask_workers": 2},
    )
    (dask_ingest,) = result["ingest"].values()  # one feed: one manifest
    dask_score = result["score"]

    assert dask_ingest["statuses"] == default_ingest["statuses"]
    assert set(default_ingest["statuses"]) >= {"ok", "http_error", "invalid_image", "disallowed"}
    assert _manifest(dask_home) == _manifest(default_home)  # same rows, same order
    assert dask_score["scored"] == default_score["scored"] > 0
    assert (
        dask_ingest["task_runner"]
        == dask_score["task_runner"]
        == ("dask, local cluster of 2 workers")
    )
    assert default_score["task_runner"] == "default (this process)"

    products, labels, failures, vectors, colours = _warehouse(default_home)
    dask_products, dask_labels, dask_failures, dask_vectors, dask_colours = _warehouse(dask_home)
    assert dask_colours == colours and len(colours) > dask_score["scored"]  # measured in shards
    assert dask_products == products
    with open(catalog, newline="") as handle:
        assert len(products) == len(list(csv.DictReader(handle)))
    assert dask_labels == labels and labels
    assert dask_failures == failures
    assert dask_vectors.keys() == vectors.keys()
    for sha, vector in vectors.items():
        other = dask_vectors[sha]
        cosine = vector @ other / (np.linalg.norm(vector) * np.linalg.norm(other))
        assert cosine >= 1 - 1e-4, sha

    # Nothing left in scratch, and every shard was a completed Prefect task run.
    assert not list((dask_home / "manifests").glob(".catalog.*-*"))  # shards, journal
    assert not list((dask_home / "scratch").glob("*"))
    with get_client(sync_client=True) as client:  # only this test runs shards
        downloads, scorings = (
            client.read_task_runs(task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=n)))
            for n in ("download-shard", "score-shard")
        )
    assert len(downloads) == 5  # 36 URLs in shards of 8
    assert len(scorings) == -(-dask_score["scored"] // 7)
    assert all(r.state.is_completed() and r.flow_run_id for r in downloads + scorings)


def test_sharded_ingest_resumes_like_the_default_one(catalog_server, tmp_path, monkeypatch):
    """A shard pool that dies midway: the finished shards stay in the journal and the rerun
    (default runner) requests only the rest."""
    folder, _ = catalog_server
    monkeypatch.setattr(shards, "DOWNLOAD_SHARD", 4)

    class Failing(ExecutorShards):
        calls = 0

        def download(self, job):
            Failing.calls += 1
            if Failing.calls == 3:
                raise RuntimeError("worker lost")
            return super().download(job)

    pool = Failing(ThreadPoolExecutor(2), slots=1)
    with pytest.raises(RuntimeError, match="worker lost"):
        ingest_source(
            folder / "catalog.csv",
            tmp_path / "m" / "catalog",
            tmp_path / "images",
            LOCAL,
            fetcher=sharded_fetcher(pool),
            part_rows=4,
        )
    # The shards that finished before the failure are in the journal; the shard folder is gone.
    assert not list((tmp_path / "m").glob(".catalog.shards-*"))
    again = ingest_source(
        folder / "catalog.csv", tmp_path / "m" / "catalog", tmp_path / "images", LOCAL
    )
    assert again.resumed_rows >= 4
    assert again.requested == again.records - again.skipped_done
    assert again.statuses == {"ok": again.records}


def test_a_slow_shard_does_not_hold_back_the_others_and_rows_stay_in_order(
    catalog_server, tmp_path, monkeypatch
):
    folder, _ = catalog_server
    monkeypatch.setattr(shards, "DOWNLOAD_SHARD", 4)
    finished: list[str] = []
    three_others_done = threading.Event()  # the first shard returns only after three others

    def download(job, first):
        if first:
            assert three_others_done.wait(60), "the other shards never came back"
        result = shards.download_shard(job)
        finished.append(job.urls_file.name)
        if len(finished) >= 3:
            three_others_done.set()
        return result

    class SlowFirst(ExecutorShards):
        def download(self, job):
            first = job.urls_file.name.startswith("shard-000001")
            return self.executor.submit(download, job, first)

    pool = SlowFirst(ThreadPoolExecutor(4), slots=2)
    summary = ingest_source(
        folder / "catalog.csv",
        tmp_path / "m" / "catalog",
        tmp_path / "images",
        LOCAL,
        fetcher=sharded_fetcher(pool),
    )
    assert summary.statuses == {"ok": summary.records}
    assert finished.index("shard-000001.urls.parquet") >= 3  # shards 2-4 came back before it
    with open(folder / "catalog.csv", newline="") as handle:
        expected = [row["product_id"] for row in csv.DictReader(handle)]
    manifest = pq.read_table(tmp_path / "m" / "catalog").column("source_id").to_pylist()
    assert manifest == expected


def test_bad_scale_out_options_are_one_line_errors():
    with pytest.raises(FashionError, match="task_runner='spark': is not one of 'default', 'dask'"):
        ScaleOut.parse(task_runner="spark")
    with pytest.raises(FashionError, match="needs task runner 'dask'"):
        ScaleOut.parse(task_runner="default", dask_address="tcp://scheduler:8786")
    with pytest.raises(FashionError, match="dask_workers=0: must be at least 1"):
        ScaleOut.parse(task_runner="dask", dask_workers=0)
    with pytest.raises(FashionError, match="with an address"):
        ScaleOut.parse(task_runner="dask", dask_address="tcp://scheduler:8786", dask_workers=2)


def test_the_address_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FASHION_DASK_ADDRESS", "tcp://scheduler:8786")
    assert ScaleOut.parse(task_runner="dask").dask_address == "tcp://scheduler:8786"
    other = ScaleOut.parse(task_runner="dask", dask_address="tcp://other:8786")
    assert other.dask_address == "tcp://other:8786"
    assert ScaleOut.parse(task_runner="default").dask_address is None


def test_per_host_limits_are_shared_by_the_shards_that_run_at_once():
    config = shards.shard_download_config(LOCAL.__class__(per_host=16, per_host_rate=50), 4)
    assert (config.per_host, config.per_host_rate) == (4, 12.5)
    config = shards.shard_download_config(LOCAL.__class__(per_host=2, per_host_rate=0), 8)
    assert (config.per_host, config.per_host_rate) == (1, 0.0)
