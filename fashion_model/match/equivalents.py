"""Each product's nearest competitor products (`fashion equivalents`, table `equivalents`):
one retailer's embedded products searched against another's, through the index when it serves
the model, else an exact numpy scan in blocks; one (model, from, to) result replaced at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from fashion_model.errors import BadInput
from fashion_model.match.index import (
    LoadedIndex,
    embedding_width,
    load_index,
    served_version,
    similar_sql,
    stream_embeddings,
    vectors_of,
)
from fashion_model.match.similar import EXACT_SHARE, check_k, check_tasks, query_frame
from fashion_model.sqlfiles import named, relation, run_script, run_statement, transaction
from fashion_model.warehouse.reader import check_retailer

EXACT_MAX_PAIRS = 2_000_000_000  # query x candidate pairs done by a numpy scan
QUERY_BLOCK = 1024
SCAN_CELLS = 50_000_000  # similarities held at once by an exact scan (200 MB)


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
        raise BadInput("--from and --to name the same retailer")
    check_retailer(con, from_retailer, "--from")
    check_retailer(con, to_retailer, "--to")
    check_k(top, "--top")
    same = check_tasks(con, same or [])
    params = {"from_retailer": from_retailer, "model_version": version}
    sources = relation(con, similar_sql("equivalent_sources.sql"), params).to_arrow_table()
    source_ids = sources.column("product_id").to_pylist()
    queries = vectors_of(sources.column("embedding"))
    con.register(
        "similar_wanted",
        pa.table({"task": pa.array([], pa.string()), "label_id": pa.array([], pa.int32())}),
    )
    params = {"model_version": version, "in_retailer": to_retailer}
    run_statement(con, similar_sql("candidates.sql"), params, where="candidates.sql")
    targets = con.execute(named("similar/statements.sql", "candidate_products")).df()
    groups = _groups(con, version, from_retailer, to_retailer, source_ids, targets, same)
    index = None
    if version == served_version(con):
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
            found.append(
                pd.DataFrame(
                    {
                        "row": np.repeat(block, valid.sum(axis=1)),
                        "key": keys_found[valid],
                        "similarity": sims[valid].astype(float),
                    }
                )
            )
            done += len(block)
            if progress:
                progress(done, len(source_ids))
    if progress:
        progress(len(source_ids), len(source_ids))  # products with no candidate count as done
    table = _rank(found, targets, source_ids, top)
    table = table.assign(
        model_version=version, from_retailer=from_retailer, to_retailer=to_retailer
    )
    con.register("batch_equivalents", table)
    params = {"model_version": version, "from_retailer": from_retailer, "to_retailer": to_retailer}
    try:
        with transaction(con):
            run_script(con, "similar/write_equivalents.sql", params)
    finally:
        con.unregister("batch_equivalents")
    best = table[table["rank"] == 1]["similarity"]
    return EquivalentsResult(
        version,
        from_retailer,
        to_retailer,
        len(source_ids),
        int(table["from_product_id"].nunique()),
        len(table),
        float(best.mean()) if len(best) else None,
        " + ".join(sorted(methods)) or "none",
        time.perf_counter() - started,
    )


def _groups(con, version, from_retailer, to_retailer, source_ids, targets, same):
    """(query rows, allowed target keys) per group of queries that share their labels in the
    `same` tasks; with no `same`, one group of everything."""
    all_keys = np.unique(targets["key"].to_numpy())
    if not same:
        return [(np.arange(len(source_ids)), all_keys)]

    def label_sets(retailer: str) -> dict[str, tuple]:
        params = {"retailer": retailer, "model_version": version, "tasks": same}
        frame = query_frame(con, "retailer_labels.sql", params)
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
        return np.empty(0, np.int64), np.empty((0, embedding_width(con, version)), np.float32)
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
    return pd.DataFrame(
        {
            "from_product_id": np.asarray(source_ids, dtype=object)[pairs["row"].to_numpy()],
            "to_product_id": pairs["product_id"].to_numpy(),
            "similarity": pairs["similarity"].round(6).to_numpy(),
            "rank": pairs["rank"].to_numpy(),
        }
    )
