"""Content-addressed image store: sha256 of the stored bytes names the file; writes are atomic."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def relative_path(sha256: str) -> str:
    """One level of 256 folders, as git stores objects: ~4,000 files a folder at a million
    images. (Earlier stores used two levels, ab/cd/; `put` still finds those files.)"""
    return f"{sha256[:2]}/{sha256}.jpg"


def _legacy_path(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"


def put(root: Path, data: bytes) -> tuple[str, str]:
    """Store `data` once; returns (sha256, path relative to `root`)."""
    sha256 = hashlib.sha256(data).hexdigest()
    relative = relative_path(sha256)
    target = os.path.join(root, relative)
    if os.path.exists(target):
        return sha256, relative
    legacy = _legacy_path(sha256)
    if os.path.exists(os.path.join(root, legacy)):
        return sha256, legacy
    folder = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".jpg")
    except FileNotFoundError:  # first image of this folder
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256, relative
