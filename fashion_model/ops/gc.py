"""Retention: what `fashion gc` may remove, and removing it.

Three kinds of garbage, never anything the production model's results need:
- images in the store that no manifest row and no catalog product (`product_images`) refers to;
- scores, embeddings, predictions, score failures and equivalents of model versions that are
  neither production nor among the `keep_models` newest registered versions;
- manifest journals, `.old` copies and shard folders left by interrupted ingests (only when no
  ingest of that manifest is running: its lock is free), and scoring shard folders under
  HOME/scratch (gc holds the warehouse lock, so no scoring run is using them);
- half-written image files (`.tmp-*`) that a killed download left in the store: their writer
  on this host is gone, or they are more than an hour old;
- feeds fetched from URLs (HOME/feeds/NAME/<stamp>-<file>) beyond the `keep_feeds` newest of
  each feed: the manifests hold what they said.
Plan first (a dry run lists it all), remove with `apply`. Referenced images are found with one
anti-join in DuckDB over the manifests' Parquet parts, so memory does not grow with the store.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa

from fashion_model.home import Home
from fashion_model.ingest import store
from fashion_model.model.registry import list_versions, production_version
from fashion_model.scaleout.shards import SCRATCH
from fashion_model.sqlfiles import named, transaction

_sql = partial(named, "ops/gc.sql")

LEFTOVER = re.compile(r"^\.(.+)\.(?:journal|old|staging|shards)-[^/]+$")
MODEL_TABLES = ("scores", "embeddings", "predictions", "score_failures", "equivalents")


@dataclass
class Plan:
    images: list[str] = field(default_factory=list)  # paths relative to HOME/images
    image_bytes: int = 0
    models: dict[str, int] = field(default_factory=dict)  # version -> rows to delete
    kept_models: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)  # journals, shard folders; relative to HOME
    folder_bytes: int = 0
    temps: list[str] = field(default_factory=list)  # relative to HOME/images
    temp_bytes: int = 0
    feeds: list[str] = field(default_factory=list)  # fetched feed files, relative to HOME
    feed_bytes: int = 0

    def rows(self) -> list[dict]:
        return [
            {
                "what": "unreferenced images",
                "count": len(self.images),
                "MiB": _mib(self.image_bytes),
            },
            {
                "what": "rows of old model versions"
                + (f" ({', '.join(sorted(self.models))})" if self.models else ""),
                "count": sum(self.models.values()),
                "MiB": None,
            },
            {
                "what": "leftover journals and shard folders",
                "count": len(self.folders),
                "MiB": _mib(self.folder_bytes),
            },
            {
                "what": "half-written image files",
                "count": len(self.temps),
                "MiB": _mib(self.temp_bytes),
            },
            {
                "what": "older fetched feeds",
                "count": len(self.feeds),
                "MiB": _mib(self.feed_bytes),
            },
        ]


def _mib(size: int) -> float:
    return round(size / 2**20, 1)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _lock_free(lock: Path) -> bool:
    if not lock.exists():
        return True
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def _store_files(images_root: Path, temps: list[str], batch: int = 50_000):
    """(sha256, relative path) of every stored image, in Arrow batches; stale temp files are
    appended to `temps`."""
    shas, paths = [], []
    for folder, _, files in os.walk(images_root):
        for name in files:
            if name.startswith(".tmp-"):
                path = Path(folder, name)
                if store.is_stale_temp(path):
                    temps.append(str(path.relative_to(images_root)))
            elif name.endswith(".jpg") and not name.startswith("."):
                shas.append(name[:-4])
                paths.append(os.path.relpath(os.path.join(folder, name), images_root))
                if len(shas) >= batch:
                    yield pa.table({"sha256": shas, "path": paths})
                    shas, paths = [], []
    if shas:
        yield pa.table({"sha256": shas, "path": paths})


def plan(con: duckdb.DuckDBPyConnection, home: Home, keep_models: int, keep_feeds: int = 7) -> Plan:
    result = Plan()
    for folder in sorted(home.feeds.glob("*")) if home.feeds.is_dir() else []:
        fetched = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
        for old in fetched[: max(0, len(fetched) - keep_feeds)]:  # names start with a stamp
            result.feeds.append(str(old.relative_to(home.root)))
            result.feed_bytes += _file_size(old)
    production = production_version(home.models)
    newest = sorted(list_versions(home.models), reverse=True)[:keep_models]
    result.kept_models = sorted({*newest, *([production] if production else [])})
    for table in MODEL_TABLES:
        for version, count in con.execute(_sql("model_rows").format(table=table)).fetchall():
            if version not in result.kept_models:
                result.models[version] = result.models.get(version, 0) + count

    manifests = [p for p in home.manifests.glob("*") if p.is_dir() and not p.name.startswith(".")]
    leftovers = [p for p in home.manifests.glob(".*") if p.is_dir()]
    for folder in leftovers:
        name = LEFTOVER.match(folder.name)
        if name and _lock_free(home.manifests / f".{name.group(1)}.lock"):
            result.folders.append(str(folder.relative_to(home.root)))
            result.folder_bytes += _size(folder)
    for folder in sorted((home.root / SCRATCH).glob("*")):
        result.folders.append(str(folder.relative_to(home.root)))
        result.folder_bytes += _size(folder)

    # Journals of running ingests and all committed manifests count as references.
    parts = [str(p) for m in manifests for p in m.glob("part-*.parquet")]
    parts += [
        str(p)
        for p in home.manifests.glob(".*/part-*.parquet")
        if str(p.parent.relative_to(home.root)) not in result.folders
    ]
    con.execute(_sql("create_store"))
    for batch in _store_files(home.images, result.temps):
        con.register("gc_batch", batch)
        con.execute(_sql("fill_store"))
        con.unregister("gc_batch")
    unreferenced = _sql("unreferenced").format(manifests=_sql("manifest_images") if parts else "")
    rows = con.execute(unreferenced, {"parts": parts} if parts else {}).fetchall()
    result.images = [row[0] for row in rows]
    con.execute(_sql("drop_store"))
    result.image_bytes = sum((home.images / p).stat().st_size for p in result.images)
    result.temp_bytes = sum(_file_size(home.images / p) for p in result.temps)
    return result


def apply(con: duckdb.DuckDBPyConnection, home: Home, planned: Plan) -> None:
    """Remove what `plan` listed: rows in one transaction, then files."""
    if planned.models:
        versions = sorted(planned.models)
        with transaction(con):
            for table in MODEL_TABLES:
                con.execute(_sql("forget_models").format(table=table), {"versions": versions})
        con.execute("CHECKPOINT")
    for relative in planned.images + planned.temps:
        (home.images / relative).unlink(missing_ok=True)
    for relative in planned.folders:
        shutil.rmtree(home.root / relative, ignore_errors=True)
    for relative in planned.feeds:
        (home.root / relative).unlink(missing_ok=True)
