"""End to end through Prefect: `retrain` then `nightly` on a tiny catalog served from loopback."""

import json
import socket
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from fashion_model.config import (
    DemoConfig,
    DownloadConfig,
    NightlyConfig,
    ReportConfig,
    TrainConfig,
)
from fashion_model.ingest.manifest import read_manifest
from fashion_model.model.registry import production_version
from fashion_model.warehouse.lock import warehouse_lock

from .commands import FASHION

LOCAL = DownloadConfig(allow_private=True, per_host_rate=0)


@pytest.fixture(scope="module")
def flow_home(catalog_server, prefect_harness, tmp_path_factory):
    from fashion_model.flows.nightly import nightly
    from fashion_model.flows.retrain import retrain

    folder, _ = catalog_server
    home = tmp_path_factory.mktemp("flow-home")
    trained = retrain(
        train_file=str(folder / "train.json"),
        validation_file=str(folder / "validation.json"),
        home=str(home),
        download=DownloadConfig(allow_private=True),
        train=TrainConfig(epochs=1, image_size=32),
    )
    result = nightly(
        catalog=str(folder / "catalog.csv"),
        home=str(home),
        config=NightlyConfig(report=ReportConfig(retailer="Northwind")),
        download=DownloadConfig(allow_private=True),
    )
    return home, trained, result


def test_retrain_registers_the_production_model(flow_home):
    home, trained, _ = flow_home
    assert production_version(home / "models") == trained["model_version"]
    assert {p.name for p in (home / "manifests").iterdir()} >= {"train", "validation", "catalog"}


def test_nightly_fills_the_warehouse(flow_home, catalog_server):
    home, trained, result = flow_home
    folder, _ = catalog_server
    manifest = read_manifest(home / "manifests" / "catalog")
    ok = [
        s
        for s, st in zip(
            manifest["sha256"].to_pylist(), manifest["status"].to_pylist(), strict=True
        )
        if st == "ok"
    ]
    with duckdb.connect(str(home / "fashion.duckdb"), read_only=True) as con:
        count = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        with (folder / "catalog.csv").open() as handle:
            catalog_rows = sum(1 for _ in handle) - 1
        assert count("SELECT count(*) FROM products") == catalog_rows
        assert count("SELECT count(*) FROM product_images WHERE image_status = 'ok'") == len(ok)
        assert count("SELECT count(*) FROM product_images WHERE image_status = 'http_error'") == (
            catalog_rows - len(ok)
        )
        assert count("SELECT count(*) FROM scores") == len(set(ok))
        assert count("SELECT count(*) FROM embeddings") == len(set(ok))
        versions = con.execute("SELECT DISTINCT model_version FROM scores").fetchall()
        assert versions == [(trained["model_version"],)]
        assert count("SELECT count(*) FROM models WHERE is_production") == 1
    assert result["score"]["scored"] == len(set(ok))
    chart = Path(result["report"]["chart"])
    assert chart.parent == home / "reports" and chart.suffix == ".png"
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.width > 100


def test_trends_and_sql_read_the_nightly_warehouse(flow_home, tmp_path):
    """The analytics tables the scoring run rebuilt answer `fashion trends` and `fashion sql`,
    read-only, with the same numbers as the warehouse itself."""
    import subprocess

    from PIL import Image

    home, trained, _ = flow_home

    def fashion(*args):
        return subprocess.run(
            [*FASHION, *args, "--home", str(home)], capture_output=True, text=True, timeout=120
        )

    with duckdb.connect(str(home / "fashion.duckdb"), read_only=True) as con:
        # a one-epoch model's labels are chance: read the task it predicted most
        (task,) = con.execute(
            "SELECT task FROM product_attributes GROUP BY task ORDER BY count(*) DESC, task LIMIT 1"
        ).fetchone()
    chart = tmp_path / "trends.png"
    result = fashion("trends", "--task", task, "--plot", str(chart))
    assert result.returncode == 0, result.stderr
    assert f"model {trained['model_version']}" in result.stderr
    lines = result.stdout.splitlines()
    assert "products" in lines[0] and lines[1].startswith("month")
    assert all(line[:4] in ("2025", "2026") for line in lines[2:])
    with Image.open(chart) as image:
        assert image.format == "PNG"
    shares = fashion(
        "sql",
        "attribute_share",
        "--param",
        f"task={task}",
        "--param",
        "split=retailer",
        "--format",
        "json",
    )
    rows = json.loads(shares.stdout)
    with duckdb.connect(str(home / "fashion.duckdb"), read_only=True) as con:
        scored = con.execute(
            "SELECT retailer, date_trunc('month', first_seen)::DATE, count(DISTINCT product_id) "
            "FROM product_images JOIN products USING (retailer, product_id) "
            "JOIN scores ON scores.image_sha256 = product_images.image_sha256 GROUP BY ALL"
        ).fetchall()
    expected = {(r, str(m)[:7]): n for r, m, n in scored}
    got = {(row["segment"], row["period"][:7]): row["period_products"] for row in rows}
    assert got == expected


def test_the_runs_left_artifacts(flow_home):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def latest():
        async with get_client() as client:
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["score", "train", "trend-pattern"])
                )
            )
            return {a.key: a for a in sorted(artifacts, key=lambda a: a.created)}

    import asyncio

    home, trained, result = flow_home
    artifacts = asyncio.run(latest())
    assert set(artifacts) == {"score", "train", "trend-pattern"}
    # the score artifact is the run's summary table: its figures are the flow's result
    rows = artifacts["score"].data
    rows = json.loads(rows) if isinstance(rows, str) else rows
    figures = {row["figure"]: row["value"] for row in rows}
    assert figures["scored"] == str(result["score"]["scored"])
    assert figures["model_version"] == trained["model_version"]
    assert "## pattern share by month" in artifacts["trend-pattern"].data


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_measures_itself_against_the_truth(prefect_harness, tmp_path):
    """A tiny demo learns little, so what is checked is the bookkeeping: the trend table's truth
    column and the catalog micro-F1 equal what an independent count over truth.csv gives."""
    import pandas as pd
    from sklearn.metrics import f1_score

    from fashion_model.flows.demo import PATTERN_TREND, RECOVERED_POINTS, TREND, demo
    from fashion_model.labels import default_label_map

    result = demo(
        home=str(tmp_path),
        config=DemoConfig(
            products=12, epochs=1, image_size=32, train_images=12, validation_images=4
        ),
    )
    assert (tmp_path / "catalog" / "synth.json").is_file()
    assert result["chart"].endswith(f"{TREND.task}_share_by_month_{TREND.retailer.lower()}.png")
    assert (tmp_path / "reports").joinpath(result["chart"].rsplit("/", 1)[1]).is_file()
    assert f"{TREND.label} (truth)" in result["table"]
    sheet = Path(result["contact_sheet"])
    assert sheet.parent == tmp_path / "reports" and sheet.name.startswith("similar_northwind_")
    with Image.open(sheet) as image:
        assert image.format == "PNG"
    assert "Northwind products matched to Southbay" in result["equivalents"]
    assert production_version(tmp_path / "models") == result["model_version"]
    catalog = tmp_path / "catalog"
    truth = pd.read_csv(catalog / "truth.csv", dtype={"product_id": str})
    products = pd.read_csv(catalog / "catalog.csv", dtype={"product_id": str})
    products = products[products["retailer"] == TREND.retailer]
    label_id = default_label_map().label_id(TREND.task, TREND.label)
    carriers = set(truth.loc[truth["label_id"] == label_id, "product_id"])
    for month, group in products.groupby(products["first_seen"].str[:7]):
        share = round(group["product_id"].isin(carriers).mean() * 100, 1)
        assert f"{share}" in next(line for line in result["table"].splitlines() if month in line)
    with duckdb.connect(str(tmp_path / "fashion.duckdb"), read_only=True) as con:
        predicted = con.execute(
            "SELECT DISTINCT product_id, label_id FROM product_attributes"
        ).fetchall()
    judged = sorted({p for p, _ in predicted})
    labels = sorted(set(truth["label_id"]) | {label for _, label in predicted})
    column = {label: i for i, label in enumerate(labels)}
    row = {p: i for i, p in enumerate(judged)}
    truth_matrix, predicted_matrix = np.zeros((2, len(judged), len(labels)), dtype=int)
    for p, label in zip(truth["product_id"], truth["label_id"], strict=True):
        if p in row:
            truth_matrix[row[p], column[label]] = 1
    for p, label in predicted:
        predicted_matrix[row[p], column[label]] = 1
    expected = f1_score(truth_matrix, predicted_matrix, average="micro", zero_division=0)
    assert result["catalog_micro_f1_vs_truth"] == pytest.approx(expected, abs=1e-4)
    errors = result["share_error_points_by_task"]
    assert {"category", "color", "pattern"} <= set(errors)  # the tasks the catalog draws
    assert result["share_error_points_mean"] == pytest.approx(
        sum(errors.values()) / len(errors), abs=0.01
    )
    # the pattern trend is printed exactly when the model recovered patterns
    shown = f"{PATTERN_TREND.label} (truth)" in result["tables"]
    assert shown == (errors["pattern"] <= RECOVERED_POINTS), result["pattern_trend"]
    assert result["tables"].startswith(result["heading"])


@pytest.mark.slow  # tens of seconds: `make test` runs it, test-fast leaves it out
def test_similar_and_equivalents_on_the_nightly_warehouse(flow_home, catalog_server, tmp_path):
    """The nightly run built the similarity index; a catalog photo given as --image finds its
    own product first (the same processing gives the same embedding); equivalents land in SQL."""
    import subprocess

    home, trained, result = flow_home
    folder, base_url = catalog_server
    assert result["score"]["similarity_index"]["action"] == "built"

    def fashion(*args):
        return subprocess.run(
            [*FASHION, *args, "--home", str(home)], capture_output=True, text=True, timeout=120
        )

    with duckdb.connect(str(home / "fashion.duckdb"), read_only=True) as con:
        product_id, retailer = con.execute(
            "SELECT product_id, retailer FROM product_images WHERE image_status = 'ok' "
            "ORDER BY product_id LIMIT 1"
        ).fetchone()
        embedded = con.execute(
            "SELECT count(DISTINCT product_id) FROM product_images JOIN embeddings "
            "USING (image_sha256) WHERE retailer = 'Northwind'"
        ).fetchone()[0]
    sheet = tmp_path / "sheet.png"
    photo = folder / "images" / "catalog" / f"{product_id}.jpg"
    found = fashion(
        "similar", "--image", str(photo), "-k", "3", "--format", "json", "--out", str(sheet)
    )
    assert found.returncode == 0, found.stderr
    answer = json.loads(found.stdout)
    assert answer["method"] == "index" and answer["model_version"] == trained["model_version"]
    top = answer["results"][0]
    assert (top["retailer"], top["product_id"]) == (retailer, product_id)
    assert top["similarity"] > 0.999
    with Image.open(sheet) as image:
        assert image.format == "PNG"
    by_product = fashion("similar", "--product-id", product_id, "-k", "3")
    assert by_product.returncode == 0, by_product.stderr
    assert product_id not in by_product.stdout and len(by_product.stdout.splitlines()) == 4

    equivalents = fashion("equivalents", "--from", "Northwind", "--to", "Southbay")
    assert equivalents.returncode == 0, equivalents.stderr
    with duckdb.connect(str(home / "fashion.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT from_product_id), min(rank), "
            "max(rank) FROM equivalents"
        ).fetchone()
    assert rows == (embedded, embedded, 1, 1)

    (tmp_path / "notes.jpg").write_text("not a photo")
    for args, message in (
        (["--image", str(tmp_path / "notes.jpg")], "notes.jpg: not a readable image"),
        (["--image", f"{base_url}/images/catalog/missing.jpg", "--allow-private"], "404"),
        (["--product-id", product_id, "--same", "fabric"], "--same 'fabric' is not one of"),
    ):
        failed = fashion("similar", *args)
        assert failed.returncode == 2 and message in failed.stderr, failed.stderr
        assert "Traceback" not in failed.stderr


def _fashion_cli(*args, home):
    import subprocess

    return subprocess.run(
        [*FASHION, *args, "--home", str(home)], capture_output=True, text=True, timeout=120
    )


def test_readers_use_the_snapshot_while_a_writer_holds_the_database(flow_home):
    home, _, result = flow_home
    assert result["snapshot"] == str(home / "fashion-snapshot.duckdb")
    query = ("sql", "attribute_share", "--param", "task=color", "--format", "json")
    direct = _fashion_cli(*query, home=home)
    assert direct.returncode == 0 and "snapshot" not in direct.stderr
    writer = duckdb.connect(str(home / "fashion.duckdb"))  # holds DuckDB's file lock
    try:
        fallback = _fashion_cli(*query, home=home)
    finally:
        writer.close()
    assert fallback.returncode == 0, fallback.stderr
    assert "fashion-snapshot.duckdb" in fallback.stderr
    assert "is being written, so this is the snapshot, published" in fallback.stderr
    assert json.loads(fallback.stdout) == json.loads(direct.stdout)


def test_a_second_nightly_is_refused_naming_the_run_that_writes(flow_home, catalog_server):
    import subprocess
    import sys
    import time

    from fashion_model.errors import FashionError
    from fashion_model.flows.nightly import nightly

    home, _, _ = flow_home
    folder, _ = catalog_server
    hold = (
        "import sys, time\n"
        "from fashion_model.warehouse.lock import warehouse_lock\n"
        "with warehouse_lock(sys.argv[1], 'flow run nightly/eager-otter (1234)'):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(home / "fashion.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(FashionError, match=r"being written by flow run nightly/eager-otter"):
            nightly(
                catalog=str(folder / "catalog.csv"),
                home=str(home),
                config=NightlyConfig(lock_wait_minutes=0.02),
                download=LOCAL,
            )
        assert 1.0 <= time.monotonic() - started < 60
    finally:
        holder.kill()
        holder.wait()


def test_a_failed_stage_names_itself_and_the_resume_command(flow_home, catalog_server):
    from fashion_model.errors import StageFailed
    from fashion_model.flows.nightly import nightly

    home, _, _ = flow_home
    _, base_url = catalog_server
    feed = f"{base_url}/no-such-feed.xml"
    with webhook_receiver() as (url, received), pytest.raises(StageFailed) as failed:
        nightly(catalog=feed, home=str(home), download=LOCAL, config=NightlyConfig(notify_url=url))
    message = str(failed.value)
    assert [r["status"] for r in received] == ["failed"]
    assert received[0]["message"] == message and "nightly/" in received[0]["run"]
    assert message.startswith("stage 'ingest' failed: ") and "HTTP 404" in message
    assert message.endswith(
        f"resume with: fashion nightly {feed} --home {home} --name catalog "
        "(finished downloads are kept)"
    )
    # the run let go of the warehouse: a writer takes the lock at once, with no wait
    with warehouse_lock(home / "fashion.duckdb", "test", wait_seconds=0):
        pass


def test_a_report_without_predictions_completes_the_night(flow_home, catalog_server):
    from fashion_model.flows.report import report

    home, _, _ = flow_home
    result = report(home=str(home), config=ReportConfig(retailer="Nowhere"))
    assert result["empty"] and "no scored product of Nowhere" in result["table"]
    with Image.open(result["chart"]) as image:
        assert image.format == "PNG"
    assert Path(result["csv"]).read_text().startswith("period")


def test_nightly_over_merchant_and_shopify_feeds_of_three_retailers(
    flow_home, catalog_server, tmp_path
):
    """Merchant TSV, Merchant XML and a Shopify export, one retailer each, plus a feed whose
    URL fails: one run, one lock, one snapshot; every product, image, price, availability and
    date lands as written; the failed feed is reported and flags the run."""
    import csv
    import shutil

    from fashion_model.demo.feeds import availability_of, write_feeds
    from fashion_model.flows.nightly import nightly

    source_home, _, _ = flow_home
    folder, base_url = catalog_server
    home = tmp_path / "home"
    shutil.copytree(source_home / "models", home / "models")
    with (folder / "catalog.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    listing = write_feeds(tmp_path, rows, ["merchant-tsv", "merchant-xml", "shopify"])
    with listing.open("a", encoding="utf-8") as handle:
        handle.write(f"  - source: {base_url}/gone.xml\n    retailer: Ghost\n")
    result = nightly(
        catalog=str(listing),
        home=str(home),
        download=LOCAL,
        config=NightlyConfig(as_of=date(2026, 12, 1)),
    )
    assert set(result["ingest"]) == {"catalog-northwind", "catalog-southbay", "catalog-eastpeak"}
    assert {r["feed"]["format"] for r in result["ingest"].values()} == {
        "merchant",
        "merchant-xml",
        "shopify",
    }
    assert list(result["failed_feeds"]) == ["catalog-ghost"]
    assert "HTTP 404" in result["failed_feeds"]["catalog-ghost"]
    assert result["comparison"]["flagged"]
    assert any("feed catalog-ghost failed" in f for f in result["comparison"]["flags"])
    assert Path(result["snapshot"]).is_file()
    with duckdb.connect(str(home / "fashion.duckdb"), read_only=True) as con:
        products = {
            (r[0], r[1]): r[2:]
            for r in con.execute(
                "SELECT retailer, product_id, price, currency, availability, first_seen "
                "FROM products"
            ).fetchall()
        }
        images = dict(
            ((r[0], r[1]), r[2:])
            for r in con.execute(
                "SELECT retailer, product_id, image_url, image_status FROM product_images"
            ).fetchall()
        )
        observed = con.execute(
            "SELECT count(*), count(availability) FROM product_observations"
        ).fetchone()
    assert len(products) == len(rows) and observed == (len(rows), len(rows))
    per_retailer = {}
    for row in rows:
        index = per_retailer.setdefault(row["retailer"], [])
        expected = availability_of(len(index))
        index.append(row)
        if row["retailer"] == "Eastpeak":  # the Shopify export states stock only
            expected = "in_stock" if expected == "in_stock" else "out_of_stock"
        price, currency, availability, first_seen = products[(row["retailer"], row["product_id"])]
        assert price == Decimal(row["price"]) and currency == "EUR"
        assert availability == expected and first_seen.isoformat() == row["first_seen"]
        assert images[(row["retailer"], row["product_id"])][0] == row["image_url"]
    assert sum(status == "ok" for _, status in images.values()) == result["score"]["scored"]


def test_a_bad_parameter_fails_at_once_in_one_line_before_any_work(flow_home, catalog_server):
    from fashion_model.errors import BadInput
    from fashion_model.flows.nightly import nightly

    home, _, _ = flow_home
    folder, _ = catalog_server
    manifest = home / "manifests" / "catalog"
    before = sorted(p.name for p in manifest.iterdir())
    for parameters, expected in (
        ({"download": {"concurrency": 0}}, "parameter download.concurrency=0: must be at least 1"),
        (
            {"config": {"stage_timeout_minutes": -5}},
            "parameter config.stage_timeout_minutes=-5: must be above 0",
        ),
        ({"config": {"report": {"task": "fabric"}}}, "parameter config.report.task="),
    ):
        with pytest.raises(BadInput) as refused:
            nightly(catalog=str(folder / "catalog.csv"), home=str(home), **parameters)
        assert str(refused.value).startswith(expected) and "\n" not in str(refused.value)
    assert sorted(p.name for p in manifest.iterdir()) == before  # nothing was downloaded


@contextmanager
def webhook_receiver():
    """A local webhook receiver: yields (url, list of the JSON bodies it was sent)."""
    from aiohttp import web

    from fashion_model.demo.server import running_app

    received: list[dict] = []

    async def hook(request):
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    with running_app(app) as base:
        yield f"{base}/hook", received


@contextmanager
def silent_socket():
    """A URL whose server accepts the connection and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


def test_each_run_is_compared_with_the_previous_one_and_flagged(
    flow_home, catalog_server, tmp_path
):
    from fashion_model.flows.nightly import nightly

    home, _, first = flow_home
    folder, _ = catalog_server
    assert first["comparison"]["previous_as_of"] is None and not first["comparison"]["flagged"]
    # the next night the catalog lost 60% of its products
    lines = (folder / "catalog.csv").read_text().splitlines()
    products = sorted({line.split(",")[0] for line in lines[1:]})
    kept = set(products[: len(products) * 2 // 5])
    smaller = tmp_path / "catalog.csv"
    smaller.write_text("\n".join([lines[0], *(x for x in lines[1:] if x.split(",")[0] in kept)]))
    tomorrow = date.today() + timedelta(days=1)
    with silent_socket() as url:  # a receiver that never answers does not fail the run
        second = nightly(
            catalog=str(smaller),
            home=str(home),
            download=LOCAL,
            config=NightlyConfig(as_of=tomorrow, notify_url=url),
        )
    comparison = second["comparison"]
    assert comparison["previous_as_of"] == date.today().isoformat()
    assert comparison["products"] == len(kept) and comparison["added"] == 0
    assert comparison["delisted"] == comparison["previous_products"] - len(kept)
    assert comparison["flagged"] and any("delisted" in f for f in comparison["flags"])
    with duckdb.connect(str(home / "fashion.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT as_of, flagged, delisted FROM nightly_runs ORDER BY as_of")
        assert rows.fetchall()[-1] == (tomorrow, True, comparison["delisted"])
    with webhook_receiver() as (url, received):
        again = nightly(
            catalog=str(smaller),
            home=str(home),
            download=LOCAL,
            config=NightlyConfig(as_of=tomorrow + timedelta(days=1), notify_url=url),
        )
    assert not again["comparison"]["flagged"] and received == []  # nothing moved: no message


def test_a_webhook_that_does_not_answer_is_reported_not_raised():
    from fashion_model.analytics.runs import notify

    with silent_socket() as url:
        outcome = notify(url, {"status": "failed"}, timeout=0.5)
    assert outcome.startswith(f"webhook {url} failed: ") and "the run goes on" in outcome
    assert notify(None, {}) == "no webhook configured"


def test_gc_lists_then_removes_only_garbage(flow_home):
    import io
    import os
    import shutil
    import subprocess
    import sys

    from fashion_model.ingest import store
    from fashion_model.model.registry import production_version

    home = flow_home[0]
    db = home / "fashion.duckdb"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 50), (1, 2, 3)).save(buffer, "JPEG")
    _, orphan = store.put(home / "images", buffer.getvalue())
    journal = home / "manifests" / ".catalog.journal-20990101T000000-deadbeef"
    journal.mkdir()
    shutil.copy(next((home / "manifests" / "catalog").glob("part-*.parquet")), journal)
    shard_folders = [
        home / "manifests" / ".catalog.shards-0123456789ab",
        home / "scratch" / "score-0123456789ab",
    ]
    for folder in shard_folders:  # what a killed --task-runner dask run leaves
        folder.mkdir(parents=True)
        (folder / "shard-000001.todo.parquet").write_bytes(b"PAR1")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    half_written = home / "images" / orphan[:2] / f".tmp-{gone}-{store.HOST}-abcd_123.jpg"
    being_written = half_written.with_name(f".tmp-{os.getpid()}-{store.HOST}-efgh_456.jpg")
    for temp in (half_written, being_written):
        temp.write_bytes(b"\xff\xd8 part of a download")
    fetched = home / "feeds" / "rival"
    fetched.mkdir(parents=True)
    stamps = [f"202611{day:02d}T023000Z-feed.xml" for day in range(1, 10)]
    for name in stamps:
        (fetched / name).write_text("<rss/>")
    production = production_version(home / "models")
    counts = "SELECT model_version, count(*) FROM {} GROUP BY ALL ORDER BY ALL"
    with duckdb.connect(str(db)) as con:
        for table in ("scores", "embeddings", "predictions"):
            con.execute(
                f"INSERT INTO {table} SELECT * REPLACE ('old-model' AS model_version) "
                f"FROM {table} WHERE model_version = ? LIMIT 5",
                [production],
            )
        before = {t: con.execute(counts.format(t)).fetchall() for t in ("scores", "predictions")}
    assert ("old-model", 5) in before["scores"]

    dry = _fashion_cli("gc", home=home)
    assert dry.returncode == 0, dry.stderr
    assert "unreferenced images: 1 " in dry.stderr and orphan in dry.stderr
    assert "rows of old model versions (old-model): 15" in dry.stderr
    assert "leftover journals and shard folders: 3 " in dry.stderr
    assert "half-written image files: 1 " in dry.stderr and half_written.name in dry.stderr
    assert being_written.name not in dry.stderr
    assert "older fetched feeds: 2 " in dry.stderr and stamps[0] in dry.stderr
    assert "dry run: nothing removed" in dry.stderr
    assert (home / "images" / orphan).is_file() and journal.is_dir()

    applied = _fashion_cli("gc", "--apply", "--keep-models", "0", home=home)
    assert applied.returncode == 0, applied.stderr
    assert not (home / "images" / orphan).exists() and not journal.exists()
    assert not any(folder.exists() for folder in shard_folders)
    assert sorted(p.name for p in fetched.iterdir()) == stamps[2:]  # the 7 newest stay
    assert not half_written.exists() and being_written.is_file()
    with duckdb.connect(str(db), read_only=True) as con:
        for table, rows in before.items():
            assert con.execute(counts.format(table)).fetchall() == [
                row for row in rows if row[0] != "old-model"
            ]
    for name in ("catalog", "train", "validation"):
        for path in read_manifest(home / "manifests" / name)["path"].to_pylist():
            assert path is None or (home / "images" / path).is_file()
    again = _fashion_cli("gc", home=home)
    assert "unreferenced images: 0 " in again.stderr and "old model versions: 0" in again.stderr


@pytest.mark.slow
def test_a_nightly_killed_mid_run_leaves_a_consistent_database(
    trained_home, catalog_server, prefect_harness, tmp_path
):
    """SIGKILL the whole `fashion nightly` process group once it writes the warehouse; the
    database opens, and the next run completes the work with nothing twice."""
    import os
    import shutil
    import signal
    import subprocess
    import time

    from fashion_model.flows.nightly import nightly

    folder, _ = catalog_server
    home = tmp_path / "home"
    shutil.copytree(trained_home / "models", home / "models")
    command = [
        *FASHION,
        "nightly",
        str(folder / "catalog.csv"),
        "--home",
        str(home),
        "--allow-private",
    ]
    run = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        # Ingest commits the manifest, then scoring writes the warehouse (its WAL appears):
        # kill it there, in the middle of a write.
        deadline = time.monotonic() + 180
        wal = home / "fashion.duckdb.wal"
        manifest = home / "manifests" / "catalog"
        while not (manifest.is_dir() and wal.exists()) and time.monotonic() < deadline:
            assert run.poll() is None, "the nightly run ended before it wrote the warehouse"
            time.sleep(0.01)
        assert manifest.is_dir() and wal.exists(), "never saw the scoring stage write"
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert not (home / "fashion-snapshot.duckdb").exists()  # the run did not finish

    result = nightly(catalog=str(folder / "catalog.csv"), home=str(home), download=LOCAL)
    with duckdb.connect(str(home / "fashion.duckdb"), read_only=True) as con:
        duplicates = con.execute(
            "SELECT count(*) FROM (SELECT image_sha256, model_version FROM scores "
            "GROUP BY ALL HAVING count(*) > 1)"
        ).fetchall()[0][0]
        unscored = con.execute(
            "SELECT count(*) FROM images LEFT JOIN scores USING (image_sha256) "
            "WHERE scores.image_sha256 IS NULL"
        ).fetchall()[0][0]
        products = con.execute("SELECT count(*) FROM products").fetchall()[0][0]
    assert duplicates == 0 and unscored == 0
    lines = (folder / "catalog.csv").read_text().splitlines()[1:]
    assert products == len({line.split(",")[0] for line in lines})
    assert result["snapshot"] == str(home / "fashion-snapshot.duckdb")


@pytest.mark.slow  # a Prefect subprocess / a training run
def test_the_cli_prints_a_failed_stage_in_one_line_without_a_traceback(
    flow_home, catalog_server, tmp_path, prefect_api_env
):
    import shutil
    import subprocess

    source_home, _, _ = flow_home
    _, base_url = catalog_server
    home = tmp_path / "home"
    shutil.copytree(source_home / "models", home / "models")
    result = subprocess.run(
        [*FASHION, "nightly", f"{base_url}/missing.tsv", "--home", str(home), "--allow-private"],
        capture_output=True,
        text=True,
        timeout=600,
        env=prefect_api_env,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "stage 'ingest' failed:" in errors[0]
    assert "resume with: fashion nightly" in errors[0]
    log = (home / "logs" / "fashion.log").read_text(encoding="utf-8")
    assert "Traceback" in log and "HTTP 404" in log  # the details went to the log file


@pytest.mark.slow  # a Prefect subprocess / a training run
def test_retrain_trains_on_reviewed_labels_and_never_validates_on_them(
    flow_home, catalog_server, tmp_path
):
    """export -> a reviewer's answers -> import -> `retrain --extra`: the reviewed images land
    as the `reviewed` split and are trained on; validation stays the validation file."""
    import csv
    import shutil

    from fashion_model.flows.retrain import retrain
    from fashion_model.home import Home
    from fashion_model.labels import default_label_map
    from fashion_model.review.loop import export_review, import_review

    source_home, trained, _ = flow_home
    folder, _ = catalog_server
    home = tmp_path / "home"
    shutil.copytree(source_home, home, ignore=shutil.ignore_patterns("*.lock"))
    paths = Home.resolve(home)
    export_review(paths, [], tmp_path / "tasks.json", limit=5, again=True)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    names = {label.label_id: label for label in default_label_map().labels}
    truth: dict[str, list[int]] = {}
    with (folder / "truth.csv").open() as handle:
        for row in csv.DictReader(handle):
            truth.setdefault(row["product_id"], []).append(int(row["label_id"]))
    for task in tasks:
        chosen: dict[str, list[str]] = {}
        for label_id in truth[task["data"]["product_id"]]:
            chosen.setdefault(names[label_id].task, []).append(names[label_id].name)
        task["annotations"] = [
            {
                "completed_by": 1,
                "result": [
                    {"from_name": t, "to_name": "image", "type": "choices", "value": {"choices": c}}
                    for t, c in chosen.items()
                ],
            }
        ]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    import_review(paths, tmp_path / "export.json", tmp_path / "reviewed.json")
    result = retrain(
        train_file=str(folder / "train.json"),
        validation_file=str(folder / "validation.json"),
        home=str(home),
        download=LOCAL,
        extra=[str(tmp_path / "reviewed.json")],
        train=TrainConfig(epochs=1, image_size=32),
    )
    reviewed = read_manifest(home / "manifests" / "reviewed")
    assert set(reviewed["split"].to_pylist()) == {"reviewed"}
    assert reviewed.num_rows == len(tasks) and set(reviewed["status"].to_pylist()) == {"ok"}
    assert result["train_images"] == trained["train_images"] + len(tasks)
    assert result["val_images"] == trained["val_images"]  # reviewed images are never held out
