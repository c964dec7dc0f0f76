"""A real Prefect server: deploy prefect.yaml, run a process worker, trigger `nightly`, check."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from fashion_model.demo.server import free_port

pytestmark = pytest.mark.slow  # a real Prefect server, a worker and a deployment run
ROOT = Path(__file__).resolve().parent.parent
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _api(env: dict, path: str, body: dict | None = None) -> object:
    request = urllib.request.Request(
        env["PREFECT_API_URL"] + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _prefect(env: dict, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """`prefect server start` on loopback with its own PREFECT_HOME; always shut down."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "FASHION_PROGRESS": "0",
    }
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
        env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if _api(env, "/health") is True:
                    break
            except OSError:
                pass
            assert server.poll() is None, (home / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Prefect server did not start in 180 s"
            time.sleep(1)
        yield env
    finally:
        _stop(server)
        log.close()


def test_the_nightly_deployment_runs_on_a_real_server(
    prefect_server, trained_home, catalog_server, tmp_path
):
    env = prefect_server
    folder, _ = catalog_server
    home = tmp_path / "home"
    shutil.copytree(trained_home / "models", home / "models")

    _prefect(env, "work-pool", "create", "fashion-process", "--type", "process")
    deployed = _prefect(env, "--no-prompt", "deploy", "--all")
    assert "nightly" in deployed and "retrain" in deployed and "ingest" in deployed
    names = {d["name"] for d in _api(env, "/deployments/filter", {})}
    assert names >= {"nightly", "retrain", "ingest"}

    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", "fashion-process", "--limit", "1"],
        env=env,
        cwd=ROOT,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # A bad parameter fails at once, in one line naming it, before any work. The configs'
        # constraints are in the deployment's parameter schema, so the server refuses the run;
        # the checks a schema cannot say (a known label task) fail the run as it starts.
        def run_nightly(parameters: dict) -> str:
            started = time.monotonic()
            refused = subprocess.run(
                [
                    PREFECT,
                    "deployment",
                    "run",
                    "nightly/nightly",
                    "--params",
                    json.dumps({**parameters, "home": str(home)}),
                    "--watch",
                ],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            output = " ".join((refused.stdout + refused.stderr).split())
            assert refused.returncode != 0, output
            assert time.monotonic() - started < 120, output
            return output

        for bad, expected in (
            (
                {"download": {"concurrency": 0}},
                "Validation failed for field 'download.concurrency'. Failure reason: 0 is less "
                "than the minimum of 1",
            ),
            (
                {"config": {"stage_timeout_minutes": -5}},
                "Validation failed for field 'config.stage_timeout_minutes'.",
            ),
        ):
            assert expected in run_nightly(bad)
        run_nightly({"catalog": str(folder / "catalog.csv"), "config": {"report": {"task": "x"}}})
        failed = _api(env, "/flow_runs/filter", {"sort": "START_TIME_DESC", "limit": 1})[0]
        assert failed["state_type"] == "FAILED"
        message = failed["state"]["message"]
        assert "parameter config.report.task='x': is not one of category, color" in message
        assert not (home / "manifests").exists()  # nothing was downloaded

        params = {
            "catalog": str(folder / "catalog.csv"),
            "home": str(home),
            "download": {"allow_private": True, "per_host_rate": 0},
            "config": {"report": {"retailer": "Northwind"}},
        }
        _prefect(
            env,
            "deployment",
            "run",
            "nightly/nightly",
            "--params",
            json.dumps(params),
            "--watch",
            timeout=900,
        )
    finally:
        _stop(worker)
        worker_log.close()

    runs = _api(env, "/flow_runs/filter", {"sort": "START_TIME_DESC"})
    nightly_runs = [r for r in runs if r.get("deployment_id") and r["parameters"].get("home")]
    assert nightly_runs, "no deployment run recorded"
    run = nightly_runs[0]
    log_tail = (tmp_path / "worker.log").read_text()[-4000:]
    assert run["state_type"] == "COMPLETED", log_tail

    with duckdb.connect(str(home / "fashion.duckdb"), read_only=True) as con:
        products = con.execute("SELECT count(*) FROM products").fetchall()[0][0]
        scored = con.execute("SELECT count(*) FROM scores").fetchall()[0][0]
    with (folder / "catalog.csv").open() as handle:
        catalog_products = len({line.split(",")[0] for line in list(handle)[1:]})
    assert products == catalog_products and scored > 0
    assert (home / "fashion-snapshot.duckdb").is_file()

    artifacts = _api(env, "/artifacts/filter", {"limit": 200})
    keys = {a["key"] for a in artifacts if a.get("key")}
    assert {"ingest-catalog", "ingest-catalog-statuses"} <= keys, keys
