"""The approximate nearest-neighbour index beside the warehouse (FAISS, inner product over the
L2-normalised embeddings, i.e. cosine similarity).

It holds one model version's image embeddings (the production model's, at that model's width:
512 for ResNet34, 2048 for ResNet50), keyed by `image_key`:
the first 15 hex digits of the image's sha256 as an integer (the SQL macro of the same name in
migration 004). A scoring run adds what it embedded and removes what is gone (no rebuild); it is
rebuilt when the production model changes, on `--rescore`, or when it has outgrown its coarse
quantizer. Readers check that it matches the warehouse (same model, same number of vectors)
and otherwise search exactly in DuckDB, saying why.

Small collections use an exact flat index; from FLAT_MAX vectors on an IVF index whose lists
hold the vectors uncompressed (`IVF{nlist},Flat`), searched in NPROBE lists. Files live in
`<db>.index/` (`HOME/fashion.index/`): `index-<gen>.faiss`, `keys-<gen>.npy` and
`current.json`, which names the generation and is replaced atomically after the files it names
are in place.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import faiss
import numpy as np
import pyarrow as pa

from fashion_model.files import replacing, write_json
from fashion_model.sqlfiles import named, read_sql, relation, run_statement, statements

DIM = 512  # the built-in model's width; an index takes its own from the embeddings
FLAT_MAX = 20_000  # below this an exact scan costs under a millisecond per query
NPROBE = 32  # lists searched per query; recall@10 >= 0.99 on clustered data (benchmarks/similar.py)
TRAIN_PER_LIST = 40  # k-means training points per list (FAISS warns below 39)
REBUILD_GROWTH = 4.0  # rebuild an IVF index once it holds 4x the vectors it was trained on
BATCH_ROWS = 50_000
# The last index read per folder, by generation: a long-lived reader (`fashion serve`) reads
# the files once per generation, not once per search.
_LOADED: dict[Path, LoadedIndex] = {}


def key_prefix(key: int) -> str:
    return f"{int(key):015x}"


def index_folder(db_path: Path) -> Path:
    """Where the index of a warehouse lives: beside it, `fashion.duckdb` -> `fashion.index/`."""
    return Path(db_path).with_suffix(".index")


def similar_sql(name: str) -> str:
    (sql,) = statements(read_sql(f"similar/{name}"))
    return sql


@dataclass
class IndexMeta:
    model_version: str
    kind: str  # "flat" or "ivf"
    vectors: int
    built_with: int  # vectors when built (an IVF index is rebuilt at REBUILD_GROWTH times that)
    nlist: int
    generation: str
    built_at: str
    updated_at: str
    dim: int = DIM  # indexes written before any other width have none: 512

    @property
    def files(self) -> tuple[str, str]:
        return f"index-{self.generation}.faiss", f"keys-{self.generation}.npy"


@dataclass
class IndexUpdate:
    action: str  # built, updated, unchanged, skipped
    model_version: str | None
    added: int
    removed: int
    vectors: int
    kind: str | None
    seconds: float
    reason: str

    def as_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def read_meta(folder: Path) -> IndexMeta | None:
    try:
        return IndexMeta(**json.loads((Path(folder) / "current.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def served_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The model whose results the warehouse's analytics tables (and the index) serve: the
    production model of the last scoring run (the registry's alias may have moved since)."""
    rows = con.execute(named("warehouse/statements.sql", "served_version")).fetchall()
    return rows[0][0] if rows else None


def embedding_count(con: duckdb.DuckDBPyConnection, version: str) -> int:
    sql = named("similar/statements.sql", "embedding_count")
    return int(con.execute(sql, {"model_version": version}).fetchall()[0][0])


def _nlist(vectors: int) -> int:
    return max(1, min(int(4 * math.sqrt(vectors)), vectors // TRAIN_PER_LIST))


def embedding_width(con: duckdb.DuckDBPyConnection, version: str) -> int:
    """The width of a version's embeddings (each model embeds at its own)."""
    sql = named("similar/statements.sql", "embedding_width")
    rows = con.execute(sql, {"model_version": version}).fetchall()
    return int(rows[0][0]) if rows else DIM


def vectors_of(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A column of equal-length float lists as an N x width float32 matrix."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if not len(column):
        return np.empty((0, DIM), np.float32)
    return np.ascontiguousarray(values.reshape(len(column), -1))


def _vectors(batch: pa.RecordBatch) -> np.ndarray:
    return vectors_of(batch.column(batch.schema.get_field_index("embedding")))


def stream_embeddings(con, version: str, wanted: np.ndarray | None):
    """(keys, vectors) batches of a version's embeddings, all or only the wanted keys."""
    keys = wanted if wanted is not None else np.empty(0, np.int64)
    con.register("index_wanted", pa.table({"key": pa.array(keys, pa.int64())}))
    try:
        params = {"model_version": version, "only_wanted": wanted is not None}
        reader = relation(con, similar_sql("embeddings.sql"), params).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            if batch.num_rows:
                keys = batch.column(0).to_numpy(zero_copy_only=False).astype(np.int64)
                yield keys, _vectors(batch)
    finally:
        con.unregister("index_wanted")


def _new_index(con, version: str, vectors: int, dim: int) -> tuple[faiss.Index, str, int]:
    if vectors < FLAT_MAX:
        return faiss.index_factory(dim, "IDMap2,Flat", faiss.METRIC_INNER_PRODUCT), "flat", 0
    nlist = _nlist(vectors)
    rows = min(vectors, nlist * TRAIN_PER_LIST)
    params = {"model_version": version, "rows": rows}
    frame = relation(con, similar_sql("training_sample.sql"), params).to_arrow_table()
    sample = _vectors(frame.combine_chunks().to_batches()[0])
    index = faiss.index_factory(dim, f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
    index.train(sample)
    return index, "ivf", nlist


def _save(folder: Path, index: faiss.Index, keys: np.ndarray, meta: IndexMeta) -> None:
    """Write the generation's files, then point current.json at them, then drop the others."""
    folder.mkdir(parents=True, exist_ok=True)
    index_name, keys_name = meta.files
    with replacing(folder / index_name) as tmp:
        faiss.write_index(index, str(tmp))
    with replacing(folder / keys_name) as tmp, open(tmp, "wb") as handle:
        np.save(handle, keys)
    write_json(folder / "current.json", asdict(meta))
    for path in folder.iterdir():
        if path.name not in (index_name, keys_name, "current.json"):
            path.unlink(missing_ok=True)


def _load_files(folder: Path, meta: IndexMeta) -> tuple[faiss.Index, np.ndarray]:
    index_name, keys_name = meta.files
    index = faiss.read_index(str(folder / index_name))
    return index, np.load(folder / keys_name)


def update_index(
    con: duckdb.DuckDBPyConnection,
    db_path: Path,
    rebuild: bool = False,
    log: Callable[[str], None] = lambda message: None,
    progress: Callable[[int, int], None] | None = None,
) -> IndexUpdate:
    """Bring the index in line with the production model's embeddings: add what is new, remove
    what is gone; build it from scratch when there is none, when the production model changed,
    when `rebuild`, or when it has outgrown its quantizer."""
    started = time.perf_counter()
    folder = index_folder(db_path)
    version = served_version(con)
    if version is None:
        return IndexUpdate("skipped", None, 0, 0, 0, None, 0.0, "nothing scored yet")
    total = embedding_count(con, version)
    meta = read_meta(folder)
    reason = ""
    if rebuild:
        reason = "rebuild asked for"
    elif meta is None:
        reason = "no index yet"
    elif meta.model_version != version:
        reason = f"production model changed ({meta.model_version} -> {version})"
    elif meta.kind == "flat" and total >= FLAT_MAX:
        reason = f"grew past {FLAT_MAX} vectors: exact flat -> IVF"
    elif meta.kind == "ivf" and total > REBUILD_GROWTH * meta.built_with:
        reason = f"grew {REBUILD_GROWTH:g}x since it was built: more lists"
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if not reason:
        try:
            index, keys = _load_files(folder, meta)
        except (RuntimeError, OSError, ValueError):
            reason = "index files unreadable"
    if reason:
        log(f"building the similarity index for {version} ({total} vectors): {reason}")
        dim = embedding_width(con, version)
        index, kind, nlist = _new_index(con, version, total, dim)
        added = _add(con, version, index, None, total, progress)
        keys = np.sort(added)
        meta = IndexMeta(version, kind, len(keys), len(keys), nlist, _generation(), now, now, dim)
        _save(folder, index, keys, meta)
        return IndexUpdate(
            "built",
            version,
            len(keys),
            0,
            meta.vectors,
            kind,
            time.perf_counter() - started,
            reason,
        )
    wanted = np.unique(
        run_statement(con, similar_sql("embedding_keys.sql"), {"model_version": version})
        .fetchnumpy()["key"]
        .astype(np.int64)
    )
    new = np.setdiff1d(wanted, keys, assume_unique=True)
    gone = np.setdiff1d(keys, wanted, assume_unique=True)
    if not len(new) and not len(gone):
        return IndexUpdate(
            "unchanged",
            version,
            0,
            0,
            int(index.ntotal),
            meta.kind,
            time.perf_counter() - started,
            "up to date",
        )
    if len(gone):
        index.remove_ids(faiss.IDSelectorBatch(gone))
    added = _add(con, version, index, new, len(new), progress) if len(new) else new
    keys = np.union1d(np.setdiff1d(keys, gone, assume_unique=True), added)
    meta.vectors, meta.generation, meta.updated_at = int(index.ntotal), _generation(), now
    _save(folder, index, keys, meta)
    return IndexUpdate(
        "updated",
        version,
        len(added),
        len(gone),
        meta.vectors,
        meta.kind,
        time.perf_counter() - started,
        f"{len(added)} added, {len(gone)} removed",
    )


def _generation() -> str:
    return uuid.uuid4().hex[:12]


def _add(con, version, index, wanted, total, progress) -> np.ndarray:
    added = []
    for keys, vectors in stream_embeddings(con, version, wanted):
        index.add_with_ids(vectors, keys)
        added.append(keys)
        if progress:
            progress(sum(map(len, added)), total)
    return np.concatenate(added) if added else np.empty(0, np.int64)


@dataclass
class LoadedIndex:
    index: faiss.Index
    meta: IndexMeta

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, exhaustive=False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, keys) of the k nearest images per query row, best first; only among
        `allowed` keys when given; key -1 pads a row that found fewer than k. `exhaustive`
        searches every list (exact over the allowed keys)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        selector = faiss.IDSelectorBatch(allowed) if allowed is not None else None
        if self.meta.kind == "ivf":
            nprobe = self.meta.nlist if exhaustive else min(NPROBE, self.meta.nlist)
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        else:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
        k = max(1, min(k, int(self.index.ntotal)))
        similarities, keys = self.index.search(queries, k, params=params)
        return similarities, keys


def load_index(
    con: duckdb.DuckDBPyConnection, db_path: Path, version: str
) -> tuple[LoadedIndex | None, str]:
    """The index when it serves `version` and matches the warehouse; else (None, why not)."""
    folder = index_folder(db_path)
    meta = read_meta(folder)
    if meta is None:
        return None, f"no similarity index at {folder} (`fashion index` builds it)"
    if meta.model_version != version:
        return None, f"the similarity index is for model {meta.model_version}, not {version}"
    total = embedding_count(con, version)
    if meta.vectors != total:
        return None, (
            f"the similarity index is stale ({meta.vectors} vectors, the warehouse has {total}; "
            "`fashion index` updates it)"
        )
    cached = _LOADED.get(folder)
    if cached is not None and cached.meta.generation == meta.generation:
        return cached, f"{meta.kind} index, {meta.vectors} vectors"
    try:
        index, _ = _load_files(folder, meta)
    except (RuntimeError, OSError, ValueError) as error:
        return None, f"the similarity index could not be read ({str(error).splitlines()[0]})"
    _LOADED[folder] = LoadedIndex(index, meta)
    return _LOADED[folder], f"{meta.kind} index, {meta.vectors} vectors"


def index_status(con: duckdb.DuckDBPyConnection, db_path: Path) -> dict:
    """What `fashion index` shows: the index's files and whether it serves the warehouse."""
    meta = read_meta(index_folder(db_path))
    version = served_version(con)
    if meta is None:
        return {"index": "none", "production_model": version}
    total = embedding_count(con, version) if version else 0
    fresh = meta.model_version == version and meta.vectors == total
    return {**asdict(meta), "production_model": version, "warehouse_vectors": total, "fresh": fresh}


def refresh_index(
    db_path: Path,
    rebuild: bool = False,
    log: Callable[[str], None] = lambda message: None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """`update_index` after a scoring run, as a summary. The index only speeds up search, and
    search falls back to an exact scan without it, so a failure is action 'failed' with its
    reason, for the caller to warn of, not raised."""
    from fashion_model.warehouse.db import connect

    try:
        with connect(db_path, read_only=True) as con:
            return update_index(con, db_path, rebuild=rebuild, log=log, progress=progress).as_dict()
    except Exception as error:  # noqa: BLE001 - reported, and searches fall back to exact
        return {"action": "failed", "reason": str(error).splitlines()[0] if str(error) else ""}
