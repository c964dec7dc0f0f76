"""The Parquet manifest: one row per source record with its download outcome; one schema."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fashion_model.errors import BadInput
from fashion_model.ingest.outcomes import OUTCOME_SCHEMA
from fashion_model.ingest.values import PRICE_PRECISION, PRICE_SCALE

MANIFEST_VERSION = "1"
MANIFEST_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("url", pa.string()),
        *OUTCOME_SCHEMA,  # status, error_message, http_status, sha256, path, ... downloaded_at
        ("labels", pa.list_(pa.int32())),  # null for unlabelled sources
        ("split", pa.string()),
        ("unknown_labels", pa.list_(pa.string())),
    ],
    metadata={"fashion_manifest_version": MANIFEST_VERSION},
)
CORE_COLUMNS = tuple(MANIFEST_SCHEMA.names)
# A catalog's values are typed once, when the feed is read; the manifest and the warehouse keep
# those types (a value that did not parse is NULL here, its text in source_columns). The other
# catalog columns are text.
PRICE_TYPE = pa.decimal128(PRICE_PRECISION, PRICE_SCALE)
CATALOG_TYPES = {"first_seen": pa.date32(), "price": PRICE_TYPE, "sale_price": PRICE_TYPE}


def schema_with_metadata(metadata_columns: Iterable[str], kind: str = "catalog") -> pa.Schema:
    """The core schema plus the catalog's own columns, typed as CATALOG_TYPES says."""
    schema = MANIFEST_SCHEMA.with_metadata(
        {"fashion_manifest_version": MANIFEST_VERSION, "fashion_source_kind": kind}
    )
    for name in metadata_columns:
        if name in CORE_COLUMNS:
            raise BadInput(f"catalog column {name!r} clashes with a manifest column; rename it")
        schema = schema.append(pa.field(name, CATALOG_TYPES.get(name, pa.string())))
    return schema


class ManifestWriter:
    """Writes a manifest in parts into a journal folder beside it, each part as soon as it is
    full (a crash loses at most the part in flight); `commit` swaps the journal in atomically.

    The journal is `.NAME.journal-<stamp>` next to `NAME/`. A run that dies leaves its journal;
    the next run of the same manifest reads it as history (see `previous_part_files`) and
    removes it when it commits. Readers only ever see committed manifests.
    """

    def __init__(self, target: Path, schema: pa.Schema):
        self.target = Path(target)
        self.schema = schema
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self.staging = self.target.with_name(
            f".{self.target.name}.journal-{stamp}-{uuid.uuid4().hex[:8]}"
        )
        self.staging.mkdir(parents=True)
        self.parts = 0
        self.rows = 0

    def write(self, rows: list[dict]) -> None:
        if not rows:
            return
        table = pa.Table.from_pylist(rows, schema=self.schema)
        name = f"part-{self.parts:05d}.parquet"
        tmp = self.staging / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.staging / name)  # a part is either whole or absent
        self.parts += 1
        self.rows += len(rows)

    def commit(self, superseded: Iterable[Path] = ()) -> Path:
        """Make the journal the manifest; then delete the old one and `superseded` journals."""
        if self.parts == 0:  # an empty manifest still records its schema
            pq.write_table(self.schema.empty_table(), self.staging / "part-00000.parquet")
        old = self.target.with_name(f".{self.target.name}.old-{uuid.uuid4().hex[:8]}")
        if self.target.exists():
            os.replace(self.target, old)
        os.replace(self.staging, self.target)
        shutil.rmtree(old, ignore_errors=True)
        for folder in superseded:
            if folder != self.target:
                shutil.rmtree(folder, ignore_errors=True)
        return self.target

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def previous_part_files(target: Path) -> tuple[list[Path], list[Path]]:
    """(part files oldest first, folders they came from) of what earlier runs left for `target`:
    the committed manifest (or the `.old` copy a crash between two renames left), then the
    journals of interrupted runs, oldest first. Later files hold the newer outcome of a record."""
    target = Path(target)
    committed = [target] if target.is_dir() else []
    if not committed:
        committed = sorted(target.parent.glob(f".{target.name}.old-*"), key=_mtime)[-1:]
    journals = sorted(target.parent.glob(f".{target.name}.journal-*"), key=_mtime)
    olds = sorted(target.parent.glob(f".{target.name}.old-*"))
    folders = committed + journals
    files = [f for folder in folders for f in sorted(folder.glob("part-*.parquet"))]
    return files, [*journals, *olds]


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


@contextmanager
def manifest_lock(target: Path) -> Iterator[None]:
    """One writer per manifest: a second ingest of the same NAME fails with the holder's PID."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(f".{target.name}.lock")
    handle = lock_path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BadInput(
                f"manifest {target.name!r} is being written by {holder}; wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"PID {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


def resolve_manifest(name_or_path: str | Path, manifests_root: Path) -> Path:
    """A manifest by name (under HOME/manifests) or by path; fails with the names that exist."""
    named = Path(manifests_root) / str(name_or_path)
    if named.is_dir():
        return named
    candidate = Path(name_or_path)
    if candidate.is_dir() and any(candidate.glob("part-*.parquet")):
        return candidate
    known = sorted(
        p.name for p in Path(manifests_root).glob("*") if p.is_dir() and p.name[0] != "."
    )
    raise BadInput(
        f"manifest {str(name_or_path)!r} not found (known: {', '.join(known) or 'none'})"
    )


def read_manifest(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read a manifest dataset and check that it carries the core schema."""
    path = Path(path)
    files = sorted(path.glob("part-*.parquet"))
    if not files:
        raise BadInput(f"{path}: not a manifest (no part-*.parquet files)")
    tables = [pq.read_table(f, columns=columns) for f in files]
    table = pa.concat_tables(tables, promote_options="default")
    missing = [c for c in (columns or CORE_COLUMNS) if c not in table.column_names]
    if missing:
        raise BadInput(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    return table


def manifest_schema(path: Path) -> pa.Schema:
    """The schema of a manifest dataset (every part shares it)."""
    files = sorted(Path(path).glob("part-*.parquet"))
    if not files:
        raise BadInput(f"{path}: not a manifest (no part-*.parquet files)")
    try:
        return pq.read_schema(files[0])
    except (OSError, pa.ArrowException) as error:  # a truncated or foreign file
        raise BadInput(f"{files[0]}: not a readable manifest part ({error})") from None


def manifest_kind(path: Path) -> str:
    """'catalog' or 'imaterialist': what kind of source the manifest was built from."""
    metadata = manifest_schema(path).metadata or {}
    return metadata.get(b"fashion_source_kind", b"catalog").decode()


def catalog_manifests(manifests_root: Path) -> list[Path]:
    """The committed catalog manifests under HOME/manifests, by name."""
    found = sorted(
        folder
        for folder in Path(manifests_root).glob("*")
        if folder.is_dir()
        and not folder.name.startswith(".")
        and any(folder.glob("part-*.parquet"))
    )
    return [folder for folder in found if manifest_kind(folder) == "catalog"]
