"""The OpenAPI document is the contract: Schemathesis (an API fuzzer no one here wrote) runs
every check against every operation of a real `fashion serve` on a home with data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fashion_model.demo.server import free_port
from fashion_model.service.app import create_app


@pytest.mark.slow
def test_schemathesis_finds_no_failure_and_no_server_error(served_home):
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "fashion_model.flows.cli", "serve", "--home",
         str(served_home.root), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "FASHION_API_TOKEN": ""},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            assert serve.poll() is None and time.monotonic() < deadline, "serve did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        run = subprocess.run(
            [str(Path(sys.executable).parent / "st"),
             "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
             "run", f"http://127.0.0.1:{port}/openapi.json", "--checks", "all",
             "--seed", "1", "--max-examples", "40", "--workers", "2", "--no-color"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    summary = run.stdout[-3000:]
    assert run.returncode == 0, summary  # st exits non-zero on any failure or server error
    schema = create_app(served_home, prepare=False).openapi()
    operations = sum(len(methods) for methods in schema["paths"].values())
    assert f"Tested: {operations}" in summary, summary  # every operation, none skipped
    assert "Failures:" not in summary, summary
