"""What `fashion serve` reads, and how, without ever getting in the nightly writer's way.

DuckDB admits one read-write process per file and refuses it while another process has the
file open, even read-only. A server that kept the warehouse open would make every nightly run
fail; one that opened it per request would make it fail at random. So the server reads the
snapshot that every nightly run publishes (`HOME/fashion-snapshot.duckdb`, replaced atomically
at the end of the run): it opens it read-only once per published file (the file's inode and
mtime identify it) and hands each request its own cursor, so a newly published snapshot is
picked up by the next request, without a restart, while requests in flight finish on the one
they started with. At start-up, when the warehouse is newer than its snapshot, the snapshot
is of an older schema, or there is none, and no writer holds it, the server publishes one
itself (migrations applied), under the writer lock, as a nightly run would.

Every response says what it read: the snapshot's time, the served model, and whether a writer
(a nightly run) holds the warehouse now (the writer lock, seen in /proc/locks without taking
it). Loaded models and the similarity index are kept per version / generation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from fashion_model.errors import BadInput, RuntimeFailure
from fashion_model.home import Home
from fashion_model.warehouse.db import migrations
from fashion_model.warehouse.lock import publish_snapshot, snapshot_path, writer_holding
from fashion_model.warehouse.reader import check_warehouse, schema_version


@dataclass(frozen=True)
class Snapshot:
    con: duckdb.DuckDBPyConnection
    key: tuple[int, int]  # (inode, mtime_ns) of the file it opened
    published_at: datetime
    refresh: dict  # the analytics refresh row: served model, when


def _schema(path: Path) -> int:
    """The migration a warehouse file is at (0: unreadable)."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return int(schema_version(con))
    except (duckdb.Error, TypeError):
        return 0


class Source:
    """The warehouse as the server reads it, plus the models it serves."""

    def __init__(self, home: Home):
        self.home = home
        self.db = Path(home.db)
        self.snapshot_file = snapshot_path(self.db)
        self._guard = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._models: dict[tuple[str, float], tuple] = {}

    def prepare(self) -> str:
        """At start-up: publish a snapshot when the warehouse is newer and nobody writes it.
        Returns what was done, in words."""
        if not self.db.is_file():
            if self.snapshot_file.is_file():
                return f"serving {self.snapshot_file}"
            raise BadInput(f"{self.db}: no warehouse yet; run `fashion nightly` (or `demo`) first")
        fresh = (
            self.snapshot_file.is_file()
            and self.snapshot_file.stat().st_mtime >= self.db.stat().st_mtime
            and _schema(self.snapshot_file) >= migrations()[-1][0]
        )
        if fresh:
            return f"serving {self.snapshot_file} (up to date with {self.db.name})"
        if writer_holding(self.db):
            if self.snapshot_file.is_file():
                return f"serving {self.snapshot_file}; a writer holds {self.db.name}"
            raise BadInput(
                f"{self.db} is being written and there is no snapshot yet; start the server "
                "once the nightly run has finished (it publishes one)"
            )
        try:
            publish_snapshot(self.db, "fashion serve: publishing a snapshot")
        except BadInput as busy:  # a writer started meanwhile
            if not self.snapshot_file.is_file():
                raise
            return f"serving {self.snapshot_file} ({busy})"
        return f"published {self.snapshot_file} from {self.db.name} and serving it"

    def current(self) -> Snapshot:
        """The snapshot to answer from: the one already open, or the newly published one."""
        try:
            stat = self.snapshot_file.stat()
        except FileNotFoundError:
            raise RuntimeFailure(
                f"no snapshot at {self.snapshot_file}: the server reads the snapshot each nightly "
                "run publishes; restart `fashion serve` after a run"
            ) from None
        key = (stat.st_ino, stat.st_mtime_ns)
        with self._guard:
            if self._snapshot is None or self._snapshot.key != key:
                try:
                    con = duckdb.connect(str(self.snapshot_file), read_only=True)
                except duckdb.Error as error:
                    raise RuntimeFailure(
                        f"{self.snapshot_file}: cannot be opened ({str(error).splitlines()[0]})"
                    ) from None
                refresh = check_warehouse(con, str(self.snapshot_file), need_products=False)
                published = datetime.fromtimestamp(stat.st_mtime, UTC)
                self._snapshot = Snapshot(con, key, published, refresh)
            return self._snapshot

    def cursor(self) -> tuple[duckdb.DuckDBPyConnection, Snapshot]:
        """A cursor of its own for one request (DuckDB cursors run in parallel threads)."""
        snapshot = self.current()
        return snapshot.con.cursor(), snapshot

    def describe(self, snapshot: Snapshot | None = None) -> dict:
        """What every response says about the data it comes from."""
        snapshot = snapshot or self.current()
        writing = writer_holding(self.db)
        model = snapshot.refresh.get("model_version") if snapshot.refresh else None
        note = (
            "a nightly run is writing the warehouse: this is the snapshot of the last run"
            if writing
            else "the snapshot of the last run"
        )
        return {
            "source": "snapshot",
            "published_at": snapshot.published_at.isoformat(timespec="seconds"),
            "model_version": model,
            "writer_running": writing,
            "note": note,
        }

    def model(self, version: str) -> tuple:
        """A registered version, loaded once (until its card changes)."""
        from fashion_model.model.registry import load_model

        card = Path(self.home.models) / version / "model.json"
        if not card.is_file():
            raise BadInput(f"model {version} is not in the registry {self.home.models}")
        key = (version, card.stat().st_mtime)
        with self._guard:
            if key not in self._models:
                self._models.clear()
                self._models[key] = load_model(Path(self.home.models), version)
            return self._models[key]
