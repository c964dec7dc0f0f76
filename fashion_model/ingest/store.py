"""Content-addressed image store: sha256 of the stored bytes names the file; writes are atomic."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import tempfile
import time
from pathlib import Path

HOST = socket.gethostname()
# `.tmp-PID-HOST-XXXXXXXX.jpg`: who wrote a temp file, so that `fashion gc` can tell the
# half-written file of a killed process from the one a running process is writing.
TEMP = re.compile(r"^\.tmp-(?:(\d+)-(.*)-)?[^-]{8}\.jpg$")
STALE_AFTER_S = 3600  # a temp file of another host (or of the old naming) this old is stale


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
    prefix = f".tmp-{os.getpid()}-{HOST}-"
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".jpg")
    except FileNotFoundError:  # first image of this folder
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256, relative


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale_temp(path: Path, now: float | None = None) -> bool:
    """A temp file nobody will finish: its writer (on this host) is gone, or it is older than
    an hour (a writer on another host sharing the store, or a file of the old naming)."""
    match = TEMP.match(path.name)
    if not match:
        return False
    pid, host = match.groups()
    if pid is not None and host == HOST and not _alive(int(pid)):
        return True
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except FileNotFoundError:  # its writer just finished it
        return False
    return age > STALE_AFTER_S
