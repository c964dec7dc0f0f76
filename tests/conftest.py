"""Shared fixtures: a tiny synthetic catalog served from loopback, and one Prefect harness."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

# Isolate Prefect before anything imports it: its database, settings and result storage.
_PREFECT_HOME = tempfile.mkdtemp(prefix="fashion-tests-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(Path(_PREFECT_HOME) / "storage")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["PREFECT_API_URL"] = ""
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["FASHION_PROGRESS"] = "0"
os.environ.pop("FASHION_HOME", None)

from collections import Counter, defaultdict  # noqa: E402

import pytest  # noqa: E402
from aiohttp import web  # noqa: E402

from fashion_model.config import DownloadConfig, TrainConfig  # noqa: E402
from fashion_model.demo.server import (  # noqa: E402
    free_port,
    running_app,  # noqa: E402
    running_image_server,
)
from fashion_model.demo.synth import synthesize_catalog  # noqa: E402
from fashion_model.ingest.pipeline import ingest_source  # noqa: E402
from fashion_model.model.train import train_model  # noqa: E402

from .faults import jpeg, make_faulty_app  # noqa: E402

TINY = {"products": 30, "train_images": 48, "validation_images": 12}
LOCAL = DownloadConfig(allow_private=True, retries=1, backoff=0.05, per_host_rate=0)


@pytest.fixture(scope="session")
def catalog_server(tmp_path_factory):
    """(catalog folder, base URL): a tiny synthetic catalog served on a free loopback port."""
    folder = tmp_path_factory.mktemp("synthetic") / "catalog"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    synthesize_catalog(folder, seed=7, base_url=base_url, workers=2, **TINY)
    with running_image_server(folder, port=port):
        yield folder, base_url


@pytest.fixture(scope="session")
def faulty_server():
    """(base URL on 127.0.0.1, its hits, hit times, hits of a twin server on 127.0.0.2)."""
    other_hits: Counter[str] = Counter()

    async def other(request: web.Request) -> web.Response:
        other_hits[request.path] += 1
        return web.Response(body=jpeg(), content_type="image/jpeg")

    other_app = web.Application()
    other_app.router.add_get("/{name}", other)
    hits: Counter[str] = Counter()
    times: dict[str, list[float]] = defaultdict(list)
    with running_app(other_app, host="127.0.0.2") as other_base:  # noqa: SIM117
        with running_app(make_faulty_app(hits, times, other_base)) as base_url:
            yield base_url, hits, times, other_hits, other_base


@pytest.fixture(scope="session")
def trained_home(catalog_server, tmp_path_factory):
    """A home with ingested train/validation/catalog manifests and one trained model."""
    folder, _ = catalog_server
    home = tmp_path_factory.mktemp("home")
    for name, source in (
        ("train", "train.json"),
        ("validation", "validation.json"),
        ("catalog", "catalog.csv"),
    ):
        ingest_source(folder / source, home / "manifests" / name, home / "images", LOCAL)
    train_model(
        [home / "manifests" / "train", home / "manifests" / "validation"],
        home / "images",
        home / "models",
        TrainConfig(epochs=1, image_size=32, batch_size=16, num_workers=0),
        log=lambda message: None,
    )
    return home


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test harness for the whole session (it takes ~17 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_api_env(prefect_harness):
    """The environment of a `fashion` subprocess whose flow runs go to the session's harness
    server, as with a configured Prefect API (no temporary server of its own: ~25 s less per
    run). The killed-nightly test keeps the no-server path, whose temporary server dies too."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "FASHION_PROGRESS": "0"}


PLANTED = "Planted"  # a retailer of served_home whose pattern trend is known: Stripes rises
PLANTED_STRIPES = {1: 1, 2: 3, 3: 5, 4: 7}  # month of 2026 -> striped products of 10


@pytest.fixture(scope="session")
def served_home(trained_home, catalog_server, tmp_path_factory):
    """A home for `fashion serve`: the trained home's catalog scored into its warehouse, the
    similarity index, Northwind's equivalents at Southbay, one flagged nightly run, and a
    retailer `Planted` whose predictions are written directly: 10 products a month from
    January to April 2026, of which 1, 3, 5, 7 striped and the rest polka dot or floral."""
    import shutil
    from datetime import date

    from fashion_model.home import Home
    from fashion_model.labels import default_label_map
    from fashion_model.match.equivalents import find_equivalents
    from fashion_model.match.index import update_index
    from fashion_model.model.registry import production_version
    from fashion_model.score.images import score_images
    from fashion_model.warehouse.catalog import load_catalog
    from fashion_model.warehouse.db import connect, refresh_analytics

    root = tmp_path_factory.mktemp("served") / "home"
    shutil.copytree(trained_home, root)
    home = Home.resolve(root)
    labels = default_label_map()
    stripes = labels.label_id("pattern", "Stripes")
    others = [labels.label_id("pattern", "Polka Dot"), labels.label_id("pattern", "Floral")]
    version = production_version(home.models)
    with connect(home.db) as con:
        catalog = home.manifests / "catalog"
        load_catalog(con, catalog, date(2026, 11, 1))
        load_catalog(con, catalog, date(2026, 11, 2))
        score_images(con, [catalog], home.images, home.models, num_workers=0)
        for month, striped in PLANTED_STRIPES.items():
            for i in range(10):
                product = f"PL-{month}-{i}"
                sha = f"planted-{month}-{i}"
                con.execute(
                    "INSERT INTO products (retailer, product_id, brand, title, first_seen, "
                    "last_seen, price, currency) VALUES (?, ?, 'Plant Co', ?, ?, ?, ?, 'EUR')",
                    [
                        PLANTED,
                        product,
                        f"planted {product}",
                        date(2026, month, 5 + i),
                        date(2026, 11, 2),
                        20.0 + i,
                    ],
                )
                con.execute(
                    "INSERT INTO product_images VALUES (?, ?, 0, 'u', ?, 'ok', NULL)",
                    [PLANTED, product, sha],
                )
                con.execute(
                    "INSERT INTO scores (image_sha256, model_version, probs) VALUES (?, ?, ?)",
                    [sha, version, [0.0] * 228],
                )
                label = stripes if i < striped else others[i % 2]
                con.execute("INSERT INTO predictions VALUES (?, ?, ?, 0.9)", [sha, version, label])
        refresh_analytics(con)
        update_index(con, home.db)
        find_equivalents(con, home.db, "Northwind", "Southbay", version)
        con.execute(
            "INSERT INTO nightly_runs VALUES (now(), DATE '2026-11-02', 'catalog', 30, 0.1, 30, "
            "0, 0, 1, true, ['download failure rate 10% (was 0%)'])"
        )
    return home


@pytest.fixture(scope="module")
def client(served_home):
    """The app over served_home, in process (FastAPI's TestClient)."""
    from fastapi.testclient import TestClient

    from fashion_model.service.app import create_app

    with TestClient(create_app(served_home)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def direct(served_home, client):
    """The snapshot the server reads, opened read-only here (after the app published it)."""
    import duckdb

    from fashion_model.warehouse.lock import snapshot_path

    con = duckdb.connect(str(snapshot_path(served_home.db)), read_only=True)
    yield con
    con.close()


@contextmanager
def serving(root, token: str = ""):
    """`fashion serve` on HOME `root` in a process of its own, on a free loopback port, up
    (its health check answers) before the block runs: yields its base URL."""
    import subprocess
    import sys
    import time

    import httpx

    from fashion_model.demo.server import free_port

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fashion_model.flows.cli",
            "serve",
            "--home",
            str(root),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "FASHION_API_TOKEN": token},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            try:
                if httpx.get(f"{base}/api/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
