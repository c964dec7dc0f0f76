"""The products most similar to an image or to a product (`fashion similar`), over the stored
embeddings (each model version at its own width); competitor equivalents build on it
(match/equivalents.py).

Similarity is cosine over L2-normalised embeddings (`space="embedding"`). `space="logits"`
reproduces the reference project's matching: Euclidean distance over the label logits,
recovered from the stored probabilities (clipped to [1e-7, 1 - 1e-7], so |logit| <= 16.1) and
searched exactly in DuckDB; its results carry `distance` (smaller is nearer).

A product is as similar as its closest image; a query product is represented by its first
embedded image. Searches use the approximate index (`vector_index`) when it serves the model
and matches the warehouse, and an exact scan in DuckDB (`list_cosine_similarity`) otherwise,
saying which and why. A filter that keeps at most EXACT_SHARE of the images is searched exactly
among its candidates (every list, restricted to their keys); a broader one probes NPROBE lists
for proportionally more images and keeps the candidates among them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from fashion_model.config import SIMILAR_K
from fashion_model.errors import BadInput
from fashion_model.match.index import (
    NPROBE,
    LoadedIndex,
    key_prefix,
    load_index,
    served_version,
    similar_sql,
)
from fashion_model.sqlfiles import named, run_statement
from fashion_model.warehouse.reader import check_retailer, known_tasks

_sql = partial(named, "similar/statements.sql")

MAX_K = 1000
# A filter that keeps at most this share of the indexed images is searched exactly among its
# candidates (every list, only their keys): as fast as probing NPROBE lists there, and the
# probed lists would hold too few candidates for good recall (benchmarks/similar.py).
EXACT_SHARE = 0.01
# A broader filter probes NPROBE lists for OVERSAMPLE / share times the images wanted, and keeps
# the candidates among them: no per-query ID selector to build (100 ms at 300,000 keys).
OVERSAMPLE = 2.0
CANDIDATE_COLUMNS = "key BIGINT, image_sha256 VARCHAR, retailer VARCHAR, product_id VARCHAR"
SPACES = ("embedding", "logits")
LOGIT_CLIP = 1e-7  # the stored float32 probabilities, clipped, give back |logit| <= 16.1


def logits_of(probabilities) -> np.ndarray:
    """Label logits from probabilities, as sql/similar/exact_logits.sql computes them."""
    p = np.asarray(probabilities, np.float64)
    return (np.log(np.maximum(p, LOGIT_CLIP)) - np.log(np.maximum(1 - p, LOGIT_CLIP))).astype(
        np.float32
    )


@dataclass
class Query:
    vector: np.ndarray
    description: str  # "product R/123" or "image photo.jpg"
    image_path: str | None = None  # for the contact sheet
    labels: dict[str, set[int]] = field(default_factory=dict)  # task -> predicted label ids
    retailer: str | None = None  # a query product is left out of its own results
    product_id: str | None = None
    logits: np.ndarray | None = None  # the label logits, for space="logits"


@dataclass
class SimilarResult:
    frame: pd.DataFrame  # rank, similarity, retailer, product_id, brand, title, price, ...
    model_version: str
    method: str  # "index" or "exact"
    note: str  # why that method, in words
    candidates: int | None  # products' images left by the filters (None: no filter)
    seconds: float


def query_frame(con, sql_name: str, params: dict) -> pd.DataFrame:
    return run_statement(con, similar_sql(sql_name), params, where=sql_name).df()


def _column(con, name: str, params: dict | None = None) -> list:
    """The first column of a statement of similar/statements.sql."""
    return [row[0] for row in con.execute(_sql(name), params or {}).fetchall()]


def resolve_model(con: duckdb.DuckDBPyConnection, version: str | None) -> str:
    """`production` (the analytics tables' model) or a version with embeddings here."""
    if version in (None, "production"):
        current = served_version(con)
        if current is None:
            raise BadInput("the warehouse has no scored images yet; run `fashion score`")
        return current
    versions = _column(con, "embedded_versions")
    if version not in versions:
        raise BadInput(
            f"--model {version}: no embeddings from it in the warehouse "
            f"(have: {', '.join(versions) or 'none'})"
        )
    return version


def check_tasks(con: duckdb.DuckDBPyConnection, tasks: list[str]) -> list[str]:
    """--same tasks, each checked (one query for all), once each."""
    known = known_tasks(con)
    for task in tasks:
        if task not in known:
            raise BadInput(f"--same {task!r} is not one of {', '.join(known)}")
    return list(dict.fromkeys(tasks))


def check_k(k: int, option: str = "-k") -> None:
    if not 1 <= k <= MAX_K:
        raise BadInput(f"{option} must be between 1 and {MAX_K}, got {k}")


def product_query(
    con: duckdb.DuckDBPyConnection,
    version: str,
    product_id: str,
    retailer: str | None,
    with_labels: bool = True,
    with_logits: bool = True,
) -> Query:
    """A stored product as the query: its first embedded image, its predicted labels (for
    `same`) and its logits (for space="logits"); a server asks only for what it needs."""
    params = {"product_id": product_id, "retailer": retailer, "model_version": version}
    found = run_statement(con, similar_sql("query_product.sql"), params).fetchall()
    where = f"product {product_id!r}" + (f" of retailer {retailer!r}" if retailer else "")
    if not found:
        raise BadInput(f"{where}: no such product in the warehouse")
    if len(found) > 1:
        raise BadInput(
            f"{where}: several retailers use this product id "
            f"({', '.join(row[0] for row in found)}); name one with --retailer"
        )
    (found_retailer, embedding, image_sha256, image_status) = found[0]
    if embedding is None:
        raise BadInput(
            f"{where}: model {version} has no embedding of its images "
            f"(image status: {image_status})"
        )
    path = _column(con, "image_path", {"sha256": image_sha256})
    probs = []
    if with_logits:
        probs = _column(con, "image_probs", {"sha256": image_sha256, "model_version": version})
    labels: dict[str, set[int]] = {}
    params = {"retailer": found_retailer, "product_id": product_id, "model_version": version}
    if with_labels:
        frame = query_frame(con, "product_labels.sql", params)
        for task, label_id in frame.itertuples(index=False):
            labels.setdefault(task, set()).add(int(label_id))
    return Query(
        vector=np.asarray(embedding, dtype=np.float32),
        description=f"product {found_retailer}/{product_id}",
        image_path=path[0] if path else None,
        labels=labels,
        retailer=found_retailer,
        product_id=product_id,
        logits=logits_of(probs[0]) if probs else None,
    )


def _register_wanted(con, query: Query, same: list[str]) -> None:
    rows = []
    for task in same:
        found = query.labels.get(task)
        if not found:
            raise BadInput(
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
    k: int = SIMILAR_K,
    in_retailer: str | None = None,
    same: list[str] | None = None,
    space: str = "embedding",
) -> SimilarResult:
    """The k products most similar to the query, best first (ties by retailer, product id)."""
    started = time.perf_counter()
    check_k(k)
    if space not in SPACES:
        raise BadInput(f"--space {space!r} is not one of {', '.join(SPACES)}")
    same = check_tasks(con, same or [])
    if in_retailer is not None:
        check_retailer(con, in_retailer, "--in-retailer")
    _register_wanted(con, query, same)
    filtered = bool(in_retailer or same)
    candidates = None
    if filtered:
        params = {"model_version": version, "in_retailer": in_retailer}
        run_statement(con, similar_sql("candidates.sql"), params, where="candidates.sql")
        candidates = con.execute(_sql("candidate_count")).fetchall()[0][0]
    else:
        con.execute(_sql("no_candidates").format(columns=CANDIDATE_COLUMNS))
    index, why = (None, f"model {version} is not the production model")
    if space == "logits":
        index, why = None, "logit space (Euclidean distance over the label logits)"
        if query.logits is None:
            raise BadInput(f"{query.description}: no stored probabilities to search logit space")
    elif version == served_version(con):
        index, why = load_index(con, db_path, version)
    vector = (query.logits if space == "logits" else query.vector).astype(np.float32)
    exact_sql = "exact_logits.sql" if space == "logits" else "exact.sql"
    wanted = k + 10  # images; several products may share one, the query product drops out
    allowed, exhaustive = None, False
    if index is not None and filtered:
        keys = con.execute(_sql("candidate_keys")).fetchnumpy()["key"]
        share = len(keys) / max(index.meta.vectors, 1)
        if share <= EXACT_SHARE or index.meta.kind == "flat":
            allowed, exhaustive = keys, True
            why = f"{why}, searched exactly among the {len(keys)} candidate images"
        else:  # a broad filter: ask for more neighbours and keep the candidates among them
            wanted = int(np.ceil(wanted / share * OVERSAMPLE))
            why = (
                f"{why}, {min(NPROBE, index.meta.nlist)} lists probed for {wanted} images "
                f"of which the {share:.0%} that pass the filters count"
            )
    while True:
        if index is not None:
            hits, complete = _index_hits(index, vector, wanted, allowed, exhaustive)
        else:
            params = {
                "model_version": version,
                "query": vector.tolist(),
                "filtered": filtered,
                "limit": wanted,
            }
            hits = query_frame(con, exact_sql, params)
            complete = len(hits) < wanted
        con.register("similar_hits", hits)
        params = {
            "filtered": filtered,
            "exclude_retailer": query.retailer,
            "exclude_product_id": query.product_id,
            "k": k,
        }
        found = query_frame(con, "products_of_images.sql", params)
        if len(found) >= k or complete:
            break
        wanted *= 4
    found.insert(0, "rank", range(1, len(found) + 1))
    found["similarity"] = found["similarity"].astype(float).round(4)
    if space == "logits":
        found = found.rename(columns={"similarity": "distance"})
        found["distance"] = -found["distance"]
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


def image_query(
    con: duckdb.DuckDBPyConnection,
    models_root: Path,
    image: str,
    version: str,
    allow_private: bool,
    scratch: Path,
    model: tuple | None = None,
) -> Query:
    """A photo (file or URL) as a query: embedded the way scoring embeds (stored at the store's
    size, the model's eval preset), with its predicted labels for `--same`."""
    from fashion_model.score.predict import predict_images

    _, (prediction,) = predict_images(
        models_root, [image], version, allow_private=allow_private, scratch=scratch, model=model
    )
    if prediction.error:
        raise BadInput(f"--image {image}: {prediction.error}")
    tasks = dict(con.execute(named("warehouse/statements.sql", "label_tasks")).fetchall())
    labels: dict[str, set[int]] = {}
    for label_id in prediction.label_ids:
        labels.setdefault(tasks.get(label_id, "?"), set()).add(label_id)
    return Query(
        prediction.embedding,
        f"image {image}",
        prediction.stored_path,
        labels,
        logits=logits_of(prediction.probabilities),
    )


def showcase_product(
    con: duckdb.DuckDBPyConnection, retailer: str, label_id: int | None
) -> str | None:
    """The product a contact sheet shows for `retailer` (sql/similar/showcase_product.sql)."""
    params = {"retailer": retailer, "label_id": label_id}
    found = run_statement(con, similar_sql("showcase_product.sql"), params).fetchall()
    return found[0][0] if found else None
