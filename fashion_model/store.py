"""Content-addressed image store: sha256 of the stored bytes names the file; writes are atomic."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def relative_path(sha256: str) -> str:
    """Sharded two levels deep so that no folder holds millions of files."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"


def put(root: Path, data: bytes) -> tuple[str, str]:
    """Store `data` once; returns (sha256, path relative to `root`)."""
    sha256 = hashlib.sha256(data).hexdigest()
    relative = relative_path(sha256)
    target = Path(root) / relative
    if target.exists():
        return sha256, relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256, relative
