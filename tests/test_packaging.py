"""The project as an installed package: every import declared, the wheel holds what runs (the
SQL, the label map, the flows and tasks under the project's own name) and nothing generic."""

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("fashion_model", "flows", "tasks", "sql")
# Imported on purpose though not ours: precompile.py warms Prefect's own server dependency.
NOT_OURS = {"key_value"}


# Python 3.11's ast module keeps its recursion counter per interpreter, not per thread
# (CPython gh-106905): parsing while another thread parses (a Prefect or Dask worker thread
# left by an earlier test) fails with "AST constructor recursion depth mismatch". The scan
# runs in a fresh interpreter of its own, where no other thread exists.
_SCAN = """
import ast, json, sys
from pathlib import Path
root = Path(sys.argv[1])
found = {}
for folder in sys.argv[2:]:
    for path in sorted((root / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(root)))
print(json.dumps(found))
"""


def _imported_top_level_names() -> dict[str, str]:
    """Every absolute import in the shipped code: top-level module -> a file importing it."""
    scan = subprocess.run(
        [sys.executable, "-c", _SCAN, str(ROOT), *SOURCES],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(scan.stdout)


def test_every_third_party_import_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    requirements += project["optional-dependencies"]["onnx"]  # fashion model export-onnx only
    requirements += project["optional-dependencies"]["labelstudio"]  # review push / pull only
    declared = {canonicalize_name(Requirement(r).name) for r in requirements}
    providers = packages_distributions()
    missing = {}
    for module, where in _imported_top_level_names().items():
        if module in sys.stdlib_module_names or module in {"fashion_model", *NOT_OURS}:
            continue
        distributions = {canonicalize_name(d) for d in providers.get(module, [])}
        if not distributions & declared:
            missing[module] = (where, sorted(distributions) or "not installed")
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools would reuse stale build/lib
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("fashion_attributes-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_the_wheel_ships_the_sql_the_label_map_and_the_flows_under_the_project_name(wheel):
    names = set(wheel.namelist())
    shipped_sql = {p.relative_to(ROOT / "sql").as_posix() for p in (ROOT / "sql").rglob("*.sql")}
    in_wheel = {n.removeprefix("fashion_model/sql/") for n in names if n.endswith(".sql")}
    assert in_wheel == shipped_sql
    assert "fashion_model/data/iMat_fashion_2018_label_map_228.csv" in names
    for module in ("flows/nightly.py", "flows/cli/__init__.py", "tasks/ingest.py"):
        assert f"fashion_model/{module}" in names
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"fashion_model"}  # no generic `flows`, `tasks` or `sql` package
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "fashion = fashion_model.flows.cli:main" in wheel.read(entry_points).decode()


def test_a_missing_shipped_sql_file_is_a_loud_packaging_error(monkeypatch, tmp_path):
    from fashion_model import sqlfiles as sql
    from fashion_model.errors import PackagingError
    from fashion_model.warehouse import db

    empty = tmp_path / "sql"
    (empty / "migrations").mkdir(parents=True)
    monkeypatch.setattr(sql, "_shipped_root", lambda: empty)
    with pytest.raises(PackagingError, match="no shipped SQL files in migrations/"):
        db.migrations()
    with pytest.raises(PackagingError, match="load/upsert_catalog.sql is missing"):
        sql.read_sql("load/upsert_catalog.sql")


# Where the code names a shipped statement: named("file", "name") calls, and the per-module
# shorthand `_sql = partial(named, "file")` with its `_sql("name")` calls; and string constants
# that read as a SQL statement (they belong in sql/).
_SQL_SCAN = """
import ast, json, re, sys
from pathlib import Path
root = Path(sys.argv[1])
statement = re.compile(r"^\\s*(SELECT |INSERT |UPDATE \\w+ SET|DELETE FROM|CREATE |DROP |ALTER |"
                       r"COPY |WITH \\w+ AS|ATTACH )")
refs, inline = [], []
for folder in sys.argv[2:]:
    for path in sorted((root / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(root))
        shorthand = {}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and getattr(node.value.func, "id", "") == "partial"
                    and getattr(node.value.args[0], "id", "") == "named"):
                shorthand[node.targets[0].id] = node.value.args[1].value
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                if node.func.id == "named" and len(args) == 2:
                    refs.append([where, *args])
                elif node.func.id in shorthand and args:
                    refs.append([where, shorthand[node.func.id], args[0]])
            elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and statement.match(node.value)):
                inline.append([where, node.value[:60]])
print(json.dumps({"refs": refs, "inline": inline}))
"""


def test_every_statement_lives_in_sql_and_every_named_one_exists():
    """Item 6 of the one-decision issue: the code runs statements from sql/ only, and each
    statement it names by name is there (a typo fails here, not on the one path that runs it)."""
    from fashion_model.sqlfiles import named

    scan = subprocess.run(
        [sys.executable, "-c", _SQL_SCAN, str(ROOT), "fashion_model", "flows", "tasks"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found = json.loads(scan.stdout)
    assert found["inline"] == []
    assert len(found["refs"]) > 30
    for where, relative, name in found["refs"]:
        assert named(relative, name), f"{where}: {relative} {name}"
