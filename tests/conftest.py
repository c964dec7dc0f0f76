"""Shared fixtures: a tiny synthetic catalog served from loopback, and one Prefect harness."""

from __future__ import annotations

import os
import tempfile
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
