"""The import DAG declared in pyproject.toml ([tool.importlinter]) holds for the code as the
wheel lays it out (flows/, tasks/ and sql/ become fashion_model.flows, .tasks and .sql)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wheel_layout(target: Path) -> Path:
    """Copy the Python files into the installed package's shape; return the folder to import."""
    only_python = shutil.ignore_patterns(
        "__pycache__", "*.sql", "*.html", "*.css", "*.js", "*.csv", "*.png"
    )
    package = target / "fashion_model"
    shutil.copytree(ROOT / "fashion_model", package, ignore=only_python)
    for folder in ("flows", "tasks", "sql"):
        shutil.copytree(ROOT / folder, package / folder, ignore=only_python)
    return target


def test_the_import_contracts_hold(tmp_path):
    source = wheel_layout(tmp_path / "src")
    # The checkout's editable finder maps fashion_model to the checkout, which lacks the wheel's
    # shape: put the copy first on the path before import-linter looks the package up.
    run_linter = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from importlinter.cli import lint_imports_command; lint_imports_command()"
    )
    done = subprocess.run(
        [sys.executable, "-c", run_linter, str(source), str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=source,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
