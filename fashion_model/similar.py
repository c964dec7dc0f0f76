"""Product matching over the stored 512-d embeddings: the products most similar to an image or
to a product (`fashion similar`), and each product's nearest competitor products
(`fashion equivalents`, table `equivalents`).

Similarity is cosine over L2-normalised embeddings. A product is as similar as its closest
image; a query product is represented by its first embedded image. Searches use the
approximate index (`vector_index`) when it serves the model and matches the warehouse, and an
exact scan in DuckDB (`array_cosine_similarity`) otherwise, saying which and why. A filter that
keeps at most EXACT_SHARE of the images is searched exactly among its candidates (every list,
restricted to their keys); a broader one probes NPROBE lists for proportionally more images
and keeps the candidates among them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from fashion_model.errors import FashionError
from fashion_model.sqlrun import relation, run_script, run_statement
from fashion_model.vector_index import (
    DIM,
    NPROBE,
    SIMILAR_SQL,
    LoadedIndex,
    key_prefix,
    load_index,
    production_version,
    similar_sql,
    stream_embeddings,
)

MAX_K = 1000
# A filter that keeps at most this share of the indexed images is searched exactly among its
# candidates (every list, only their keys): as fast as probing NPROBE lists there, and the
# probed lists would hold too few candidates for good recall (benchmarks/similar.py).
EXACT_SHARE = 0.01
# A broader filter probes NPROBE lists for OVERSAMPLE / share times the images wanted, and keeps
# the candidates among them: no per-query ID selector to build (100 ms at 300,000 keys).
OVERSAMPLE = 2.0
EXACT_MAX_PAIRS = 2_000_000_000  # equivalents: query x candidate pairs done by a numpy scan
QUERY_BLOCK = 1024
SCAN_CELLS = 50_000_000  # similarities held at once by an exact scan (200 MB)
CANDIDATE_COLUMNS = "key BIGINT, image_sha256 VARCHAR, retailer VARCHAR, product_id VARCHAR"


@dataclass
class Query:
    vector: np.ndarray
    description: str  # "product R/123" or "image photo.jpg"
    image_path: str | None = None  # for the contact sheet
    labels: dict[str, set[int]] = field(default_factory=dict)  # task -> predicted label ids
    retailer: str | None = None  # a query product is left out of its own results
    product_id: str | None = None


@dataclass
class SimilarResult:
    frame: pd.DataFrame  # rank, similarity, retailer, product_id, brand, title, price, ...
    model_version: str
    method: str  # "index" or "exact"
    note: str  # why that method, in words
    candidates: int | None  # products' images left by the filters (None: no filter)
    seconds: float


def _frame(con, sql_name: str, params: dict) -> pd.DataFrame:
    return run_statement(con, similar_sql(sql_name), params, where=sql_name).df()


def _column(con, sql: str, params: list | None = None) -> list:
    return [row[0] for row in con.execute(sql, params or []).fetchall()]


def resolve_model(con: duckdb.DuckDBPyConnection, version: str | None) -> str:
    """`production` (the analytics tables' model) or a version with embeddings here."""
    if version in (None, "production"):
        current = production_version(con)
        if current is None:
            raise FashionError("the warehouse has no scored images yet; run `fashion score`")
        return current
    versions = _column(con, "SELECT DISTINCT model_version FROM embeddings ORDER BY 1")
    if version not in versions:
        raise FashionError(
            f"--model {version}: no embeddings from it in the warehouse "
            f"(have: {', '.join(versions) or 'none'})"
        )
    return version


def check_tasks(con: duckdb.DuckDBPyConnection, tasks: list[str]) -> list[str]:
    known = [
        row[0] for row in con.execute("SELECT DISTINCT task FROM labels ORDER BY 1").fetchall()
    ]
    for task in tasks:
        if task not in known:
            raise FashionError(f"--same {task!r} is not a task (tasks: {', '.join(known)})")
    return list(dict.fromkeys(tasks))


def check_retailer(con: duckdb.DuckDBPyConnection, retailer: str, option: str) -> None:
    known = [
        r[0] for r in con.execute("SELECT DISTINCT retailer FROM products ORDER BY 1").fetchall()
    ]
    if retailer not in known:
        raise FashionError(f"{option} {retailer!r}: no such retailer (have: {', '.join(known)})")


def check_k(k: int, option: str = "-k") -> None:
    if not 1 <= k <= MAX_K:
        raise FashionError(f"{option} must be between 1 and {MAX_K}, got {k}")


def product_query(
    con: duckdb.DuckDBPyConnection, version: str, product_id: str, retailer: str | None
) -> Query:
    """A stored product as the query: its first embedded image and its predicted labels."""
    params = {"product_id": product_id, "retailer": retailer, "model_version": version}
    found = run_statement(con, similar_sql("query_product.sql"), params).fetchall()
    where = f"product {product_id!r}" + (f" of retailer {retailer!r}" if retailer else "")
    if not found:
        raise FashionError(f"{where}: no such product in the warehouse")
    if len(found) > 1:
        raise FashionError(
            f"{where}: several retailers use this product id "
            f"({', '.join(row[0] for row in found)}); name one with --retailer"
        )
    (found_retailer, embedding, image_sha256, image_status) = found[0]
    if embedding is None:
        raise FashionError(
            f"{where}: model {version} has no embedding of its images "
            f"(image status: {image_status})"
        )
    path = _column(con, "SELECT path FROM images WHERE image_sha256 = ?", [image_sha256])
    labels: dict[str, set[int]] = {}
    params = {"retailer": found_retailer, "product_id": product_id, "model_version": version}
    for task, label_id in _frame(con, "product_labels.sql", params).itertuples(index=False):
        labels.setdefault(task, set()).add(int(label_id))
    return Query(
        vector=np.asarray(embedding, dtype=np.float32),
        description=f"product {found_retailer}/{product_id}",
        image_path=path[0] if path else None,
        labels=labels,
        retailer=found_retailer,
        product_id=product_id,
    )


def _register_wanted(con, query: Query, same: list[str]) -> None:
    rows = []
    for task in same:
        found = query.labels.get(task)
        if not found:
            raise FashionError(
                f"--same {task}: the query ({query.description}) has no predicted {task}, "
                "so nothing can share it"
            )
        rows += [(task, label_id) for label_id in sorted(found)]
    wanted = pa.table(
        {
            "task": pa.array([r[0] for r in rows], pa.string()),
            "label_id": pa.array([r[1] for r in rows], pa.int32()),
        }
    )
    con.register("similar_wanted", wanted)


def search_similar(
    con: duckdb.DuckDBPyConnection,
    db_path: Path,
    query: Query,
    version: str,
    k: int = 10,
    in_retailer: str | None = None,
    same: list[str] | None = None,
) -> SimilarResult:
    """The k products most similar to the query, best first (ties by retailer, product id)."""
    started = time.perf_counter()
    check_k(k)
    same = check_tasks(con, same or [])
    if in_retailer is not None:
        check_retailer(con, in_retailer, "--in-retailer")
    _register_wanted(con, query, same)
    filtered = bool(in_retailer or same)
    candidates = None
    if filtered:
        params = {"model_version": version, "in_retailer": in_retailer}
        run_statement(con, similar_sql("candidates.sql"), params, where="candidates.sql")
        candidates = con.execute("SELECT count(*) FROM similar_candidates").fetchall()[0][0]
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE similar_candidates ({CANDIDATE_COLUMNS})")
    index, why = (None, f"model {version} is not the production model")
    if version == production_version(con):
        index, why = load_index(con, db_path, version)
    vector = query.vector.astype(np.float32)
    wanted = k + 10  # images; several products may share one, the query product drops out
    allowed, exhaustive = None, False
    if index is not None and filtered:
        keys = con.execute("SELECT DISTINCT key FROM similar_candidates").fetchnumpy()["key"]
        share = len(keys) / max(index.meta.vectors, 1)
        if share <= EXACT_SHARE or index.meta.kind == "flat":
            allowed, exhaustive = keys, True
            why = f"{why}, searched exactly among the {len(keys)} candidate images"
        else:  # a broad filter: ask for more neighbours and keep the candidates among them
            wanted = int(np.ceil(wanted / share * OVERSAMPLE))
            why = (f"{why}, {min(NPROBE, index.meta.nlist)} lists probed for {wanted} images "
                   f"of which the {share:.0%} that pass the filters count")  # fmt: skip
    while True:
        if index is not None:
            hits, complete = _index_hits(index, vector, wanted, allowed, exhaustive)
        else:
            hits = _frame(con, "exact.sql", {"model_version": version, "query": vector.tolist(),
                                             "filtered": filtered, "limit": wanted})  # fmt: skip
            complete = len(hits) < wanted
        con.register("similar_hits", hits)
        params = {"filtered": filtered, "exclude_retailer": query.retailer,
                  "exclude_product_id": query.product_id, "k": k}  # fmt: skip
        found = _frame(con, "products_of_images.sql", params)
        if len(found) >= k or complete:
            break
        wanted *= 4
    found.insert(0, "rank", range(1, len(found) + 1))
    found["similarity"] = found["similarity"].astype(float).round(4)
    if index is not None:
        method, note = "index", why
    else:
        method, note = "exact", f"exact search in DuckDB: {why}"
    return SimilarResult(found, version, method, note, candidates, time.perf_counter() - started)


def _index_hits(
    index: LoadedIndex, vector: np.ndarray, wanted: int, allowed: np.ndarray | None, exhaustive
) -> tuple[pd.DataFrame, bool]:
    """(hits, whether every image was considered); a filtered search that finds too few in
    the probed lists searches all lists."""
    limit = min(wanted, index.meta.vectors if allowed is None else len(allowed))
    sims, keys = index.search(vector, wanted, allowed, exhaustive=exhaustive)
    if (keys[0] >= 0).sum() < limit and not exhaustive:
        sims, keys = index.search(vector, wanted, allowed, exhaustive=True)
    valid = keys[0] >= 0
    hits = pd.DataFrame(
        {"prefix": [key_prefix(key) for key in keys[0][valid]], "similarity": sims[0][valid]}
    )
    return hits, int(valid.sum()) < wanted


# ---------------------------------------------------------------------------- equivalents


@dataclass
class EquivalentsResult:
    model_version: str
    from_retailer: str
    to_retailer: str
    products: int  # from_retailer's embedded products
    matched: int  # of which got at least one equivalent
    rows: int
    mean_similarity: float | None  # of rank 1
    method: str
    seconds: float

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(self).items()}


def find_equivalents(
    con: duckdb.DuckDBPyConnection,
    db_path: Path,
    from_retailer: str,
    to_retailer: str,
    version: str,
    same: list[str] | None = None,
    top: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> EquivalentsResult:
    """For every product of `from_retailer`, its `top` nearest products of `to_retailer`
    (sharing a predicted label in every `same` task), written to `equivalents` in one
    transaction (replacing that pair's previous rows for the model)."""
    started = time.perf_counter()
    if from_retailer == to_retailer:
        raise FashionError("--from and --to name the same retailer")
    check_retailer(con, from_retailer, "--from")
    check_retailer(con, to_retailer, "--to")
    check_k(top, "--top")
    same = check_tasks(con, same or [])
    params = {"from_retailer": from_retailer, "model_version": version}
    sources = relation(con, similar_sql("equivalent_sources.sql"), params).to_arrow_table()
    source_ids = sources.column("product_id").to_pylist()
    queries = (
        sources.column("embedding").combine_chunks().values.to_numpy().reshape(-1, DIM)
        if len(source_ids)
        else np.empty((0, DIM), np.float32)
    ).astype(np.float32)
    con.register("similar_wanted", pa.table({"task": pa.array([], pa.string()),
                                             "label_id": pa.array([], pa.int32())}))  # fmt: skip
    params = {"model_version": version, "in_retailer": to_retailer}
    run_statement(con, similar_sql("candidates.sql"), params, where="candidates.sql")
    targets = con.execute("SELECT key, product_id FROM similar_candidates").df()
    groups = _groups(con, version, from_retailer, to_retailer, source_ids, targets, same)
    index = None
    if version == production_version(con):
        index, _ = load_index(con, db_path, version)
    matrix = None
    wanted = top * 2 + 3  # images per query: products may share images
    found, done, methods = [], 0, set()
    for rows, target_keys in groups:
        if not len(rows) or not len(target_keys):
            done += len(rows)
            continue
        if index is not None and len(rows) * len(target_keys) > EXACT_MAX_PAIRS:
            methods.add("index")
            search = partial(_index_block, index, wanted=wanted, allowed=target_keys)
            block_rows = QUERY_BLOCK
        else:
            methods.add("exact")
            if matrix is None:
                matrix = _target_matrix(con, version, targets["key"].to_numpy())
            keys, vectors = matrix
            inside = np.isin(keys, target_keys)
            search = partial(_exact_block, keys[inside], vectors[inside], wanted)
            block_rows = max(1, min(QUERY_BLOCK, SCAN_CELLS // int(inside.sum())))
        for start in range(0, len(rows), block_rows):
            block = rows[start : start + block_rows]
            sims, keys_found = search(queries[block])
            valid = keys_found >= 0
            found.append(pd.DataFrame({
                "row": np.repeat(block, valid.sum(axis=1)), "key": keys_found[valid],
                "similarity": sims[valid].astype(float),
            }))  # fmt: skip
            done += len(block)
            if progress:
                progress(done, len(source_ids))
    if progress:
        progress(len(source_ids), len(source_ids))  # products with no candidate count as done
    table = _rank(found, targets, source_ids, top)
    table = table.assign(model_version=version, from_retailer=from_retailer,
                         to_retailer=to_retailer)  # fmt: skip
    con.register("batch_equivalents", table)
    params = {"model_version": version, "from_retailer": from_retailer, "to_retailer": to_retailer}
    con.execute("BEGIN TRANSACTION")
    try:
        run_script(con, SIMILAR_SQL / "write_equivalents.sql", params)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("batch_equivalents")
    best = table[table["rank"] == 1]["similarity"]
    return EquivalentsResult(
        version, from_retailer, to_retailer, len(source_ids),
        int(table["from_product_id"].nunique()), len(table),
        float(best.mean()) if len(best) else None,
        " + ".join(sorted(methods)) or "none", time.perf_counter() - started,
    )  # fmt: skip


def _groups(con, version, from_retailer, to_retailer, source_ids, targets, same):
    """(query rows, allowed target keys) per group of queries that share their labels in the
    `same` tasks; with no `same`, one group of everything."""
    all_keys = np.unique(targets["key"].to_numpy())
    if not same:
        return [(np.arange(len(source_ids)), all_keys)]

    def label_sets(retailer: str) -> dict[str, tuple]:
        params = {"retailer": retailer, "model_version": version, "tasks": same}
        frame = _frame(con, "retailer_labels.sql", params)
        sets: dict[str, dict[str, set]] = {}
        for product_id, task, label_id in frame.itertuples(index=False):
            sets.setdefault(product_id, {}).setdefault(task, set()).add(int(label_id))
        return {p: tuple(frozenset(t.get(task, ())) for task in same) for p, t in sets.items()}

    source_sets, target_sets = label_sets(from_retailer), label_sets(to_retailer)
    signatures: dict[tuple, list[int]] = {}
    for row, product_id in enumerate(source_ids):
        signature = source_sets.get(product_id, tuple(frozenset() for _ in same))
        if all(signature):  # a product with no label in a `same` task has no equivalent
            signatures.setdefault(signature, []).append(row)
    groups = []
    for signature, rows in signatures.items():
        allowed = {
            product_id
            for product_id, labels in target_sets.items()
            if all(mine & theirs for mine, theirs in zip(signature, labels, strict=True))
        }
        keys = targets.loc[targets["product_id"].isin(allowed), "key"].to_numpy()
        groups.append((np.asarray(rows), np.unique(keys)))
    return groups


def _target_matrix(con, version: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted keys, their vectors) of the target images, for exact scans."""
    parts = list(stream_embeddings(con, version, np.unique(keys)))
    if not parts:
        return np.empty(0, np.int64), np.empty((0, DIM), np.float32)
    found = np.concatenate([k for k, _ in parts])
    vectors = np.concatenate([v for _, v in parts])
    order = np.argsort(found)
    return found[order], vectors[order]


def _exact_block(keys: np.ndarray, vectors: np.ndarray, wanted: int, queries: np.ndarray):
    """The `wanted` best of `vectors` (any order) for each query row: (similarities, keys)."""
    sims = queries @ vectors.T
    take = min(wanted, len(keys))
    best = np.argpartition(-sims, take - 1, axis=1)[:, :take]
    return np.take_along_axis(sims, best, axis=1), keys[best]


def _index_block(index: LoadedIndex, queries: np.ndarray, wanted: int, allowed: np.ndarray):
    exhaustive = len(allowed) <= EXACT_SHARE * index.meta.vectors
    sims, keys = index.search(queries, wanted, allowed, exhaustive=exhaustive)
    short = (keys >= 0).sum(axis=1) < min(wanted, len(allowed))
    if short.any():  # too few candidates in the probed lists: search them all
        sims[short], keys[short] = index.search(queries[short], wanted, allowed, exhaustive=True)
    return sims, keys


def _rank(found: list[pd.DataFrame], targets: pd.DataFrame, source_ids, top: int) -> pd.DataFrame:
    """Image hits -> (query product, target product, best similarity, rank <= top)."""
    columns = ["from_product_id", "to_product_id", "similarity", "rank"]
    if not found:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns}).astype(
            {"similarity": float, "rank": "int32"}
        )
    hits = pd.concat(found, ignore_index=True)
    hits = hits.merge(targets.drop_duplicates(), on="key")
    pairs = hits.groupby(["row", "product_id"], as_index=False)["similarity"].max()
    pairs = pairs.sort_values(["row", "similarity", "product_id"], ascending=[True, False, True])
    pairs["rank"] = pairs.groupby("row").cumcount().astype("int32") + 1
    pairs = pairs[pairs["rank"] <= top]
    return pd.DataFrame({
        "from_product_id": np.asarray(source_ids, dtype=object)[pairs["row"].to_numpy()],
        "to_product_id": pairs["product_id"].to_numpy(),
        "similarity": pairs["similarity"].round(6).to_numpy(),
        "rank": pairs["rank"].to_numpy(),
    })  # fmt: skip
