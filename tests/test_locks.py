"""The lock files (locks/): complete for what asks for them, installed exactly, stale ones named."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CHECK = runpy.run_path(str(ROOT / "locks" / "check.py"))


def test_every_lock_satisfies_its_sources():
    assert CHECK["check_sources"]() == []


def test_every_lock_pins_each_package_once_with_hashes():
    for lock in sorted((ROOT / "locks").glob("*.txt")):
        text = lock.read_text()
        pins = CHECK["read_pins"](lock)
        entries = [line for line in text.splitlines() if line and line[0] not in " #"]
        assert len(entries) == len(pins), lock.name
        assert all(entry.endswith("\\") for entry in entries), f"{lock.name}: an unhashed entry"
        assert "fashion-attributes" not in pins and "file://" not in text, lock.name
        assert "pip" in pins, f"{lock.name}: the venv's installer is not pinned"


def test_the_project_venv_holds_exactly_its_lock():
    """What `make install` made is the lock: every pin at its version, nothing else but the
    project itself (editable)."""
    pins = CHECK["read_pins"](ROOT / "locks" / "venv.txt")
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    installed.pop("fashion-attributes")
    assert installed == pins


def _checkout_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "locks", copy / "locks")
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _check(copy: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(copy / "locks" / "check.py")]
    return subprocess.run(command, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (('"ijson>=3.2",', '"ijson>=3.2",\n    "humanfriendly>=10",'), "humanfriendly>=10"),
        (('"duckdb>=1.1,<3"', '"duckdb>=99"'), "duckdb>=99"),
        (('"pytest>=8",', '"pytest>=8",\n    "pytest-xdist>=3",'), "pytest-xdist>=3"),
    ],
    ids=["a new dependency", "a raised bound", "a new dev dependency"],
)
def test_a_requirement_the_lock_lacks_fails_in_one_line_naming_it(tmp_path, edit, named):
    copy = _checkout_copy(tmp_path)
    pyproject = copy / "pyproject.toml"
    old, new = edit
    assert old in pyproject.read_text()
    pyproject.write_text(pyproject.read_text().replace(old, new))
    result = _check(copy)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert named in line and "locks/venv.txt" in line and "make lock" in line


def test_a_source_of_another_venv_is_checked_against_its_own_lock(tmp_path):
    copy = _checkout_copy(tmp_path)
    source = copy / "locks" / "label-studio.in"
    source.write_text(source.read_text().replace("label-studio==1.23.2", "label-studio==1.24.0"))
    (copy / "locks" / "decoders.txt").unlink()
    result = _check(copy)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "lock: locks/decoders.txt is missing: run `make lock`, then `make test`",
        "lock: label-studio.in asks for label-studio==1.24.0, locks/label-studio.txt pins "
        "label-studio==1.23.2: run `make lock`, then `make test`",
    ]
    assert _check(_checkout_copy(tmp_path / "clean")).returncode == 0
