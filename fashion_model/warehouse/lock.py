"""Operations around the warehouse: one writer at a time, and a snapshot that readers can use.

DuckDB admits one read-write process per file. Flows that write (nightly, score) hold
`HOME/fashion.duckdb.lock` (flock) for their whole run, with a description of the holder in it,
so that a second run fails at once with a message that names the first. At the end of a nightly
run the database is copied, while the lock is still held and no connection is open, to
`HOME/fashion-snapshot.duckdb` by atomic replace: the read-only commands read it when the main
file is held by a writer. Whether a writer holds the warehouse is answered here alone
(`writer_holding`, which only looks).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from fashion_model.errors import BadInput
from fashion_model.files import replacing

SNAPSHOT_NAME = "fashion-snapshot.duckdb"
_HELD: set[Path] = set()  # locks this process holds: a subflow of the holder re-enters freely


def lock_path(db_path: Path) -> Path:
    return Path(db_path).with_name(Path(db_path).name + ".lock")


def snapshot_path(db_path: Path) -> Path:
    return Path(db_path).with_name(SNAPSHOT_NAME)


def _holder_text(raw: str) -> str:
    try:
        holder = json.loads(raw)
    except ValueError:
        return "another process"
    return (
        f"{holder.get('what', 'a run')} (PID {holder.get('pid')} on {holder.get('host')}, "
        f"since {holder.get('since')})"
    )


def this_command() -> str:
    """The holder a command that writes without a flow run is named by."""
    return f"a fashion command (pid {os.getpid()})"


@contextmanager
def warehouse_lock(db_path: Path, what: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the warehouse's writer lock; `what` names the holder (e.g. the flow run).

    Waits up to `wait_seconds` for a running writer, then fails with a message that names it."""
    path = lock_path(db_path).absolute()
    if path in _HELD:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    raise BadInput(
                        f"{db_path} is being written by {_holder_text(handle.read())}; "
                        "this run did nothing: wait for that one to finish, or pass a lock wait"
                    ) from None
                time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
        handle.seek(0)
        handle.truncate()
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        holder = {"what": what, "pid": os.getpid(), "host": socket.gethostname(), "since": since}
        handle.write(json.dumps(holder))
        handle.flush()
        _HELD.add(path)
        yield
    finally:
        _HELD.discard(path)
        handle.close()


def writer_holding(db_path: Path) -> bool:
    """Whether a process holds the warehouse's writer lock (a `flock` on `<db>.lock`), read
    from /proc/locks so that looking never takes the lock from a starting writer."""
    try:
        inode = os.stat(lock_path(db_path)).st_ino
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (a "->" marks a waiter)
                if "FLOCK" in fields and "WRITE" in fields and "->" not in fields:
                    device_inode = fields[fields.index("WRITE") + 2]
                    if device_inode.rsplit(":", 1)[-1] == str(inode):
                        return True
    except (OSError, ValueError, IndexError):
        return False
    return False


def publish_snapshot(db_path: Path, holder: str) -> Path:
    """The one publisher (the nightly run at its end, `fashion serve` on a stale snapshot): under
    the writer lock (re-entered by a run that holds it), open the warehouse once (pending
    migrations applied) and close it, so that DuckDB checkpoints and the file is complete on its
    own; then copy it to HOME/fashion-snapshot.duckdb by atomic replace."""
    from fashion_model.warehouse.db import connect

    db_path = Path(db_path)
    with warehouse_lock(db_path, holder):
        connect(db_path).close()
        return _copy_snapshot(db_path)


def _copy_snapshot(db_path: Path) -> Path:
    target = snapshot_path(db_path)
    wal = db_path.with_name(db_path.name + ".wal")
    if wal.exists() and wal.stat().st_size:
        raise BadInput(f"{db_path}: a connection is still open (write-ahead log not empty)")
    with replacing(target) as tmp:
        shutil.copyfile(db_path, tmp)
    return target


def snapshot_age(path: Path) -> str:
    """'published 2026-11-27 02:14 UTC, 6 h 3 min ago' for a snapshot file."""
    modified = datetime.fromtimestamp(Path(path).stat().st_mtime, UTC)
    minutes = int((datetime.now(UTC) - modified).total_seconds() // 60)
    age = f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
    return f"published {modified:%Y-%m-%d %H:%M} UTC, {age} ago"
