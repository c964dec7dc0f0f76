"""The OpenAPI document is the contract: Schemathesis (an API fuzzer no one here wrote) runs
every check against every operation of a real `fashion serve` on a home with data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fashion_model.service.app import create_app

from .conftest import serving


@pytest.mark.slow
def test_schemathesis_finds_no_failure_and_no_server_error(served_home, tmp_path):
    with serving(served_home.root) as base:
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "--config-file",
                str(Path(__file__).with_name("schemathesis.toml")),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "all",
                "--seed",
                "1",
                "--max-examples",
                "40",
                "--workers",
                "2",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,  # its .schemathesis cache goes there, not into the checkout
        )
    summary = run.stdout[-3000:]
    assert run.returncode == 0, summary  # st exits non-zero on any failure or server error
    schema = create_app(served_home, prepare=False).openapi()
    operations = sum(len(methods) for methods in schema["paths"].values())
    assert f"Tested: {operations}" in summary, summary  # every operation, none skipped
    assert "Failures:" not in summary, summary
